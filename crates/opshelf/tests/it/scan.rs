//! End-to-end tests of the scan capability (owned by the scan engineer).
