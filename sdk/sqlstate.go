package sdk

// KindOfSQLState maps a SQLSTATE (the five-character code of ISO/IEC
// 9075, which PostgreSQL, MySQL, MariaDB and most SQL servers report) to a
// kind by its class, its first two characters. Drivers map the codes their
// server gives a meaning of its own first (PostgreSQL's 23505 unique
// violation is a conflict, 57014 a statement timeout) and fall back to
// this. It returns KindUnknown for a class that says nothing (HY000,
// MySQL's "general error") or a code shorter than two characters.
//
// Every class about what the statement asked for (syntax, names, data,
// integrity, cardinality, cursors, routines, user-raised errors) is
// invalid_argument: a caller's mistake. Only connection exceptions (08),
// operator intervention (57) and system errors (58) are unavailable, and
// internal errors (XX) internal.
func KindOfSQLState(code string) Kind {
	if len(code) < 2 {
		return KindUnknown
	}
	switch code[:2] {
	case "02": // no data
		return KindNotFound
	case "07", "0B", "0F", "0Z", "20", "21", "22", "23", "24", "26", "27", "2B", "2D", "2F",
		"34", "38", "39", "3B", "3F", "42", "44", "45", "54", "HV", "P0":
		// dynamic SQL, transaction initiation, locator, diagnostics, case
		// not found, cardinality, data, integrity, cursor state, statement
		// name, triggered data change, dependent privileges, transaction
		// termination, routines, cursor name, external routines,
		// savepoints, schema name, syntax or access rule, check option,
		// user-raised (SIGNAL 45000), program limits, foreign data,
		// PL/pgSQL.
		return KindInvalidArgument
	case "3D": // invalid catalog (database) name
		return KindNotFound
	case "0L", "0P", "28":
		if code[:2] == "28" { // invalid authorization specification
			return KindUnauthenticated
		}
		return KindPermissionDenied // invalid grantor, role
	case "0A": // feature not supported
		return KindUnimplemented
	case "25", "55": // invalid transaction state, object not in prerequisite state
		return KindFailedPrecondition
	case "40": // transaction rollback: serialization failure, deadlock
		return KindConflict
	case "53": // insufficient resources
		return KindResourceExhausted
	case "08", "57", "58": // connection exception, operator intervention, system error
		return KindUnavailable
	case "XX": // internal error
		return KindInternal
	}
	return KindUnknown
}
