//! The engine's error codes by name (`LOCERR_*`), so a program matches on names, not numbers.

/// An engine error code (`EngineError::code`) by its `LOCERR_*` name. Codes this list does not
/// know come as [`EngineCode::Other`], so a newer engine breaks nothing.
///
/// ```
/// use qix::EngineCode;
/// assert_eq!(EngineCode::from(15), EngineCode::GenericAborted);
/// assert_eq!(EngineCode::GenericAborted.name(), Some("LOCERR_GENERIC_ABORTED"));
/// assert_eq!(EngineCode::from(424242), EngineCode::Other(424242));
/// assert_eq!(i32::from(EngineCode::AppNotFound), 1003);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineCode {
    /// `-128` `LOCERR_INTERNAL_ERROR`: Internal error.
    InternalError,
    /// `-1` `LOCERR_GENERIC_UNKNOWN`: Unknown error.
    GenericUnknown,
    /// `0` `LOCERR_GENERIC_OK`: OK.
    GenericOk,
    /// `1` `LOCERR_GENERIC_NOT_SET`: Resource not set.
    GenericNotSet,
    /// `2` `LOCERR_GENERIC_NOT_FOUND`: Resource not found.
    GenericNotFound,
    /// `3` `LOCERR_GENERIC_ALREADY_EXISTS`: Resource already exists.
    GenericAlreadyExists,
    /// `5` `LOCERR_GENERIC_ACCESS_DENIED`: Access denied.
    GenericAccessDenied,
    /// `7` `LOCERR_GENERIC_NOT_INITIALIZED`: Not initialized.
    GenericNotInitialized,
    /// `8` `LOCERR_GENERIC_INVALID_PARAMETERS`: Invalid parameters.
    GenericInvalidParameters,
    /// `9` `LOCERR_GENERIC_EMPTY_PARAMETERS`: Empty parameters.
    GenericEmptyParameters,
    /// `10` `LOCERR_GENERIC_INTERNAL_ERROR`: Internal error.
    GenericInternalError,
    /// `13` `LOCERR_GENERIC_INVISIBLE_OWNER_ABORT`: Invisible owner abort.
    GenericInvisibleOwnerAbort,
    /// `14` `LOCERR_GENERIC_PROHIBIT_VALIDATE`: Prohibit validate.
    GenericProhibitValidate,
    /// `15` `LOCERR_GENERIC_ABORTED`: Request aborted.
    GenericAborted,
    /// `16` `LOCERR_GENERIC_CONNECTION_LOST`: (Unknown error).
    GenericConnectionLost,
    /// `17` `LOCERR_GENERIC_UNSUPPORTED_IN_PRODUCT_VERSION`: Unsupported in product version.
    GenericUnsupportedInProductVersion,
    /// `19` `LOCERR_GENERIC_MEMORY_LIMIT_REACHED`: Memory limit reached.
    GenericMemoryLimitReached,
    /// `20` `LOCERR_GENERIC_NOT_IMPLEMENTED`: Not implemented.
    GenericNotImplemented,
    /// `21` `LOCERR_GENERIC_ENGINE_TERMINATED`: Engine Terminated.
    GenericEngineTerminated,
    /// `1002` `LOCERR_APP_ALREADY_OPEN`: App already open.
    AppAlreadyOpen,
    /// `1003` `LOCERR_APP_NOT_FOUND`: App not found.
    AppNotFound,
    /// `1007` `LOCERR_APP_INVALID`: App invalid.
    AppInvalid,
    /// `1008` `LOCERR_APP_CONNECT_FAILED`: Failed to connect to app.
    AppConnectFailed,
    /// `1009` `LOCERR_APP_ALREADY_OPEN_IN_DIFFERENT_MODE`: App already open in different mode.
    AppAlreadyOpenInDifferentMode,
    /// `1017` `LOCERR_APP_NOT_OPEN`: (Unknown error).
    AppNotOpen,
    /// `4000` `LOCERR_USER_ACCESS_DENIED`: User access denied (not to be confused with close code 4000).
    UserAccessDenied,
    /// `6001` `LOCERR_HC_RESULT_TOO_LARGE`: Result too large.
    HcResultTooLarge,
    /// `6003` `LOCERR_HC_MODAL_OBJECT_ERROR`: Function not allowed on this object in app modal mode.
    HcModalObjectError,
    /// `7004` `LOCERR_CALC_TIMEOUT`: Calculation timed out.
    CalcTimeout,
    /// `7009` `LOCERR_CALC_PAGES_TOO_LARGE`: Calculation pages too large.
    CalcPagesTooLarge,
    /// `11000` `LOCERR_RELOAD_IN_PROGRESS`: Reload in progress.
    ReloadInProgress,
    /// `12004` `LOCERR_USER_AUTHENTICATION_FAILURE`: User authentication failure.
    UserAuthenticationFailure,
    /// `15000` `LOCERR_SEARCH_TIMEOUT`: Search timeout.
    SearchTimeout,
    /// `-32600` `LOCERR_JSON_RPC_INVALID_REQUEST`: Invalid JSON request.
    JsonRpcInvalidRequest,
    /// `-32601` `LOCERR_JSON_RPC_METHOD_NOT_FOUND`: Method does not exist.
    JsonRpcMethodNotFound,
    /// `-32602` `LOCERR_JSON_RPC_INVALID_PARAMETERS`: Invalid method parameter(s).
    JsonRpcInvalidParameters,
    /// `-32603` `LOCERR_JSON_RPC_INTERNAL_ERROR`: Internal JSON-RPC error.
    JsonRpcInternalError,
    /// `-32604` `LOCERR_JSON_RPC_RESPONSE_TOO_LARGE`: Response too large.
    JsonRpcResponseTooLarge,
    /// `-32700` `LOCERR_JSON_RPC_PARSE_ERROR`: JSON parse error.
    JsonRpcParseError,
    /// A code this list does not name.
    Other(i32),
}

/// Every named code: (code, variant, name).
const CODES: &[(i32, EngineCode, &str)] = &[
    (-128, EngineCode::InternalError, "LOCERR_INTERNAL_ERROR"),
    (-1, EngineCode::GenericUnknown, "LOCERR_GENERIC_UNKNOWN"),
    (0, EngineCode::GenericOk, "LOCERR_GENERIC_OK"),
    (1, EngineCode::GenericNotSet, "LOCERR_GENERIC_NOT_SET"),
    (2, EngineCode::GenericNotFound, "LOCERR_GENERIC_NOT_FOUND"),
    (
        3,
        EngineCode::GenericAlreadyExists,
        "LOCERR_GENERIC_ALREADY_EXISTS",
    ),
    (
        5,
        EngineCode::GenericAccessDenied,
        "LOCERR_GENERIC_ACCESS_DENIED",
    ),
    (
        7,
        EngineCode::GenericNotInitialized,
        "LOCERR_GENERIC_NOT_INITIALIZED",
    ),
    (
        8,
        EngineCode::GenericInvalidParameters,
        "LOCERR_GENERIC_INVALID_PARAMETERS",
    ),
    (
        9,
        EngineCode::GenericEmptyParameters,
        "LOCERR_GENERIC_EMPTY_PARAMETERS",
    ),
    (
        10,
        EngineCode::GenericInternalError,
        "LOCERR_GENERIC_INTERNAL_ERROR",
    ),
    (
        13,
        EngineCode::GenericInvisibleOwnerAbort,
        "LOCERR_GENERIC_INVISIBLE_OWNER_ABORT",
    ),
    (
        14,
        EngineCode::GenericProhibitValidate,
        "LOCERR_GENERIC_PROHIBIT_VALIDATE",
    ),
    (15, EngineCode::GenericAborted, "LOCERR_GENERIC_ABORTED"),
    (
        16,
        EngineCode::GenericConnectionLost,
        "LOCERR_GENERIC_CONNECTION_LOST",
    ),
    (
        17,
        EngineCode::GenericUnsupportedInProductVersion,
        "LOCERR_GENERIC_UNSUPPORTED_IN_PRODUCT_VERSION",
    ),
    (
        19,
        EngineCode::GenericMemoryLimitReached,
        "LOCERR_GENERIC_MEMORY_LIMIT_REACHED",
    ),
    (
        20,
        EngineCode::GenericNotImplemented,
        "LOCERR_GENERIC_NOT_IMPLEMENTED",
    ),
    (
        21,
        EngineCode::GenericEngineTerminated,
        "LOCERR_GENERIC_ENGINE_TERMINATED",
    ),
    (1002, EngineCode::AppAlreadyOpen, "LOCERR_APP_ALREADY_OPEN"),
    (1003, EngineCode::AppNotFound, "LOCERR_APP_NOT_FOUND"),
    (1007, EngineCode::AppInvalid, "LOCERR_APP_INVALID"),
    (
        1008,
        EngineCode::AppConnectFailed,
        "LOCERR_APP_CONNECT_FAILED",
    ),
    (
        1009,
        EngineCode::AppAlreadyOpenInDifferentMode,
        "LOCERR_APP_ALREADY_OPEN_IN_DIFFERENT_MODE",
    ),
    (1017, EngineCode::AppNotOpen, "LOCERR_APP_NOT_OPEN"),
    (
        4000,
        EngineCode::UserAccessDenied,
        "LOCERR_USER_ACCESS_DENIED",
    ),
    (
        6001,
        EngineCode::HcResultTooLarge,
        "LOCERR_HC_RESULT_TOO_LARGE",
    ),
    (
        6003,
        EngineCode::HcModalObjectError,
        "LOCERR_HC_MODAL_OBJECT_ERROR",
    ),
    (7004, EngineCode::CalcTimeout, "LOCERR_CALC_TIMEOUT"),
    (
        7009,
        EngineCode::CalcPagesTooLarge,
        "LOCERR_CALC_PAGES_TOO_LARGE",
    ),
    (
        11000,
        EngineCode::ReloadInProgress,
        "LOCERR_RELOAD_IN_PROGRESS",
    ),
    (
        12004,
        EngineCode::UserAuthenticationFailure,
        "LOCERR_USER_AUTHENTICATION_FAILURE",
    ),
    (15000, EngineCode::SearchTimeout, "LOCERR_SEARCH_TIMEOUT"),
    (
        -32600,
        EngineCode::JsonRpcInvalidRequest,
        "LOCERR_JSON_RPC_INVALID_REQUEST",
    ),
    (
        -32601,
        EngineCode::JsonRpcMethodNotFound,
        "LOCERR_JSON_RPC_METHOD_NOT_FOUND",
    ),
    (
        -32602,
        EngineCode::JsonRpcInvalidParameters,
        "LOCERR_JSON_RPC_INVALID_PARAMETERS",
    ),
    (
        -32603,
        EngineCode::JsonRpcInternalError,
        "LOCERR_JSON_RPC_INTERNAL_ERROR",
    ),
    (
        -32604,
        EngineCode::JsonRpcResponseTooLarge,
        "LOCERR_JSON_RPC_RESPONSE_TOO_LARGE",
    ),
    (
        -32700,
        EngineCode::JsonRpcParseError,
        "LOCERR_JSON_RPC_PARSE_ERROR",
    ),
];

impl EngineCode {
    /// The engine's name for the code, `None` for [`EngineCode::Other`].
    pub fn name(self) -> Option<&'static str> {
        CODES
            .iter()
            .find(|(_, code, _)| *code == self)
            .map(|(_, _, name)| *name)
    }
}

impl From<i32> for EngineCode {
    fn from(number: i32) -> Self {
        CODES
            .iter()
            .find(|(known, _, _)| *known == number)
            .map_or(EngineCode::Other(number), |(_, code, _)| *code)
    }
}

impl From<EngineCode> for i32 {
    fn from(code: EngineCode) -> i32 {
        match code {
            EngineCode::Other(number) => number,
            named => CODES
                .iter()
                .find(|(_, code, _)| *code == named)
                .map_or(0, |(number, _, _)| *number),
        }
    }
}

impl std::fmt::Display for EngineCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {name}", i32::from(*self)),
            None => write!(f, "{}", i32::from(*self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_round_trips_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (number, code, name) in CODES {
            assert_eq!(EngineCode::from(*number), *code);
            assert_eq!(i32::from(*code), *number);
            assert_eq!(code.name(), Some(*name));
            assert!(names.insert(*name), "{name} twice");
        }
        assert_eq!(EngineCode::from(-1), EngineCode::GenericUnknown);
        assert_eq!(EngineCode::from(0), EngineCode::GenericOk);
        assert_eq!(EngineCode::Other(-1).name(), None);
    }
}
