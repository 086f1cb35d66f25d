//! End-to-end tests of the waf capability (owned by the waf engineer).
