//! Variables and collections a rule can target.

use regex::bytes::Regex;

macro_rules! vars {
    ($($v:ident => $s:literal),* $(,)?) => {
        /// A SecLang variable or collection (variants spell SecLang's own names).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum Var { $($v),* }
        impl Var {
            pub fn from_name(name: &str) -> Option<Self> {
                let up = name.to_ascii_uppercase();
                match up.as_str() { $($s => Some(Self::$v),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
    };
}

vars! {
    Args => "ARGS",
    ArgsGet => "ARGS_GET",
    ArgsPost => "ARGS_POST",
    ArgsNames => "ARGS_NAMES",
    ArgsGetNames => "ARGS_GET_NAMES",
    ArgsPostNames => "ARGS_POST_NAMES",
    ArgsCombinedSize => "ARGS_COMBINED_SIZE",
    RequestCookies => "REQUEST_COOKIES",
    RequestCookiesNames => "REQUEST_COOKIES_NAMES",
    RequestHeaders => "REQUEST_HEADERS",
    RequestHeadersNames => "REQUEST_HEADERS_NAMES",
    ResponseHeaders => "RESPONSE_HEADERS",
    ResponseHeadersNames => "RESPONSE_HEADERS_NAMES",
    Tx => "TX",
    Ip => "IP",
    Global => "GLOBAL",
    Session => "SESSION",
    User => "USER",
    Resource => "RESOURCE",
    Env => "ENV",
    Files => "FILES",
    FilesNames => "FILES_NAMES",
    FilesSizes => "FILES_SIZES",
    FilesTmpNames => "FILES_TMPNAMES",
    FilesCombinedSize => "FILES_COMBINED_SIZE",
    MultipartPartHeaders => "MULTIPART_PART_HEADERS",
    Xml => "XML",
    MatchedVar => "MATCHED_VAR",
    MatchedVarName => "MATCHED_VAR_NAME",
    MatchedVars => "MATCHED_VARS",
    MatchedVarsNames => "MATCHED_VARS_NAMES",
    RequestUri => "REQUEST_URI",
    RequestUriRaw => "REQUEST_URI_RAW",
    RequestFilename => "REQUEST_FILENAME",
    RequestBasename => "REQUEST_BASENAME",
    RequestLine => "REQUEST_LINE",
    RequestMethod => "REQUEST_METHOD",
    RequestProtocol => "REQUEST_PROTOCOL",
    RequestBody => "REQUEST_BODY",
    RequestBodyLength => "REQUEST_BODY_LENGTH",
    QueryString => "QUERY_STRING",
    RemoteAddr => "REMOTE_ADDR",
    RemotePort => "REMOTE_PORT",
    RemoteHost => "REMOTE_HOST",
    ServerAddr => "SERVER_ADDR",
    ServerName => "SERVER_NAME",
    ServerPort => "SERVER_PORT",
    UniqueId => "UNIQUE_ID",
    ReqbodyProcessor => "REQBODY_PROCESSOR",
    ReqbodyError => "REQBODY_ERROR",
    ReqbodyErrorMsg => "REQBODY_ERROR_MSG",
    ReqbodyProcessorError => "REQBODY_PROCESSOR_ERROR",
    ResponseStatus => "RESPONSE_STATUS",
    ResponseProtocol => "RESPONSE_PROTOCOL",
    ResponseBody => "RESPONSE_BODY",
    ResponseContentType => "RESPONSE_CONTENT_TYPE",
    ResponseContentLength => "RESPONSE_CONTENT_LENGTH",
    Duration => "DURATION",
    Time => "TIME",
    TimeEpoch => "TIME_EPOCH",
    Highest => "HIGHEST_SEVERITY",
    AuthType => "AUTH_TYPE",
    FullRequest => "FULL_REQUEST",
    FullRequestLength => "FULL_REQUEST_LENGTH",
    InboundDataError => "INBOUND_DATA_ERROR",
    OutboundDataError => "OUTBOUND_DATA_ERROR",
    StatusLine => "STATUS_LINE",
    WebserverErrorLog => "WEBSERVER_ERROR_LOG",
    UrlencodedError => "URLENCODED_ERROR",
    MultipartStrictError => "MULTIPART_STRICT_ERROR",
    MultipartUnmatchedBoundary => "MULTIPART_UNMATCHED_BOUNDARY",
    MultipartBoundaryQuoted => "MULTIPART_BOUNDARY_QUOTED",
    MultipartBoundaryWhitespace => "MULTIPART_BOUNDARY_WHITESPACE",
    MultipartDataBefore => "MULTIPART_DATA_BEFORE",
    MultipartDataAfter => "MULTIPART_DATA_AFTER",
    MultipartHeaderFolding => "MULTIPART_HEADER_FOLDING",
    MultipartLfLine => "MULTIPART_LF_LINE",
    MultipartCrlfLfLines => "MULTIPART_CRLF_LF_LINES",
    MultipartMissingSemicolon => "MULTIPART_MISSING_SEMICOLON",
    MultipartInvalidQuoting => "MULTIPART_INVALID_QUOTING",
    MultipartInvalidPart => "MULTIPART_INVALID_PART",
    MultipartInvalidHeaderFolding => "MULTIPART_INVALID_HEADER_FOLDING",
    MultipartFileLimitExceeded => "MULTIPART_FILE_LIMIT_EXCEEDED",
    MultipartFilename => "MULTIPART_FILENAME",
    MultipartName => "MULTIPART_NAME",
    Rule => "RULE",
}

impl Var {
    /// Whether the variable is a collection (takes `:key` and `:/re/` selectors).
    pub fn is_collection(self) -> bool {
        matches!(
            self,
            Self::Args
                | Self::ArgsGet
                | Self::ArgsPost
                | Self::ArgsNames
                | Self::ArgsGetNames
                | Self::ArgsPostNames
                | Self::RequestCookies
                | Self::RequestCookiesNames
                | Self::RequestHeaders
                | Self::RequestHeadersNames
                | Self::ResponseHeaders
                | Self::ResponseHeadersNames
                | Self::Tx
                | Self::Ip
                | Self::Global
                | Self::Session
                | Self::User
                | Self::Resource
                | Self::Env
                | Self::Files
                | Self::FilesNames
                | Self::FilesSizes
                | Self::FilesTmpNames
                | Self::MultipartPartHeaders
                | Self::Xml
                | Self::MatchedVars
                | Self::MatchedVarsNames
                | Self::Rule
        )
    }
}

/// Which members of a collection a target selects.
#[derive(Debug, Clone)]
pub enum Selector {
    All,
    /// Lower-cased key (collections are case-insensitive).
    Key(String),
    Regex(Box<Regex>),
}

impl Selector {
    pub fn matches_key(&self, key: &[u8]) -> bool {
        match self {
            Self::All => true,
            Self::Key(k) => key.eq_ignore_ascii_case(k.as_bytes()),
            Self::Regex(re) => re.is_match(key),
        }
    }

    /// Same selector (used to apply `!VAR:key` exclusions by equality).
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::All, Self::All) => true,
            (Self::Key(a), Self::Key(b)) => a == b,
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// One target of a rule: `VAR`, `VAR:key`, `VAR:/re/`, `&VAR`.
#[derive(Debug, Clone)]
pub struct Target {
    pub var: Var,
    pub selector: Selector,
    pub count: bool,
}

/// An exclusion `!VAR:key`.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub var: Var,
    pub selector: Selector,
}

impl Exclusion {
    /// Whether this exclusion removes `(var, key)` from a rule's targets.
    pub fn excludes(&self, var: Var, key: Option<&[u8]>) -> bool {
        if self.var != var {
            return false;
        }
        match key {
            Some(k) => self.selector.matches_key(k),
            None => matches!(self.selector, Selector::All),
        }
    }
}
