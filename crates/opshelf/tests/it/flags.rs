//! End-to-end tests of the flags capability (owned by the flags engineer).
