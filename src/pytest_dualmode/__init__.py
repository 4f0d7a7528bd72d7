"""pytest-dualmode: one system-test suite, run locally, against staging, or inside the VPC from Lambda."""
