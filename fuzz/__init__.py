"""Fuzzing harnesses (`make fuzz`): schemathesis against a live receiver, atheris on the parsers."""
