"""Operations on the bridge's topics (replay, dead letters, settings view): library code for the
CLI in `bridge/commands/`. Async functions take `Settings` and return typed results; none prints."""
