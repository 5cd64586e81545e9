package mysql

import (
	"context"
	"errors"
	"strconv"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// errorMap classifies the errors of go-sql-driver: a MySQL error by its
// number (its Code; by its SQLSTATE's class when the number is not one it
// knows), a session busy with open rows, the driver's signs of a broken
// connection (sdk/sqldb adds database/sql's).
var errorMap = sdk.ErrorMap{
	Backend: func(err error) (sdk.BackendError, bool) {
		var me *gomysql.MySQLError
		if errors.As(err, &me) {
			kind := kindOfNumber(me.Number)
			if kind == sdk.KindUnknown {
				kind = sdk.KindOfSQLState(string(me.SQLState[:]))
			}
			n := strconv.Itoa(int(me.Number))
			return sdk.BackendError{Kind: kind, Code: n, Detail: " (MySQL error " + n + ")",
				Retryable: me.Number == 1213 || me.Number == 1205}, true
		}
		if errors.Is(err, gomysql.ErrBusyBuffer) {
			return sdk.BackendError{Kind: sdk.KindFailedPrecondition, Detail: ": the session is busy (close the open rows first)"}, true
		}
		return sdk.BackendError{}, false
	},
	Lost: func(err error) bool {
		return errors.Is(err, gomysql.ErrInvalidConn) || errors.Is(err, gomysql.ErrPktSync) || errors.Is(err, gomysql.ErrPktSyncMul)
	},
}

// wrapErr turns an error of go-sql-driver or database/sql into an
// *sdk.Error (errorMap); nil stays nil. ctx is the call's.
func wrapErr(ctx context.Context, err error, what string) error {
	return errorMap.Wrap(ctx, err, what)
}

// kindOfNumber maps a MySQL/MariaDB error number to a kind.
func kindOfNumber(n uint16) sdk.Kind {
	switch n {
	case 1062, 1586, 1022, // duplicate key
		1451, 1452, 1216, 1217, // foreign key
		1213, 1205: // deadlock, lock wait timeout
		return sdk.KindConflict
	case 1064, 1149, // syntax
		1146, 1054, 1109, // no such table / column
		1048, 1364, // column cannot be null, no default
		1264, 1265, 1292, 1366, 1406, // bad or out-of-range value
		1052, 1060, 1061, 1091, 1136, 1210, 1241, 1242, 1305, 1630, 4025, 3819:
		return sdk.KindInvalidArgument
	case 1050: // table exists
		return sdk.KindAlreadyExists
	case 1049, 1133, 1396, 1449: // unknown database, user, definer
		return sdk.KindNotFound
	case 1644: // SIGNAL with SQLSTATE 45000: raised by the caller's SQL
		return sdk.KindInvalidArgument
	case 1045, 1698: // access denied (password)
		return sdk.KindUnauthenticated
	case 1044, 1142, 1143, 1227, 1370:
		return sdk.KindPermissionDenied
	case 1040, 1203, 1041, 1037, 1114: // too many connections, out of memory, table full
		return sdk.KindResourceExhausted
	case 1792, 1290, 1836, 1568, 1179: // read-only transaction / mode, tx in progress
		return sdk.KindFailedPrecondition
	case 1053, 1927, 1152, 1184, 1158, 1159, 1160, 1161: // shutdown, connection killed, aborted, network
		return sdk.KindUnavailable
	case 1317: // query interrupted
		return sdk.KindCanceled
	case 3024, 1969: // max execution / statement time exceeded
		return sdk.KindTimeout
	}
	return sdk.KindUnknown
}
