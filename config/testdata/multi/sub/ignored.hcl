this is not parsed, because Load does not recurse {
