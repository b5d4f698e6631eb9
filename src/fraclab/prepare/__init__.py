"""The `prepare` stage: import, decode, audit and split a dataset, and write its views."""
