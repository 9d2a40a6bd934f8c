"""crmbot core: configuration, wiring, CLI, message types, dispatcher, outbox and channels."""

__version__ = "0.1.0"
