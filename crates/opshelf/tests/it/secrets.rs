//! End-to-end tests of the secrets capability (owned by the secrets engineer).
