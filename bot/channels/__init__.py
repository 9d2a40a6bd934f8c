"""Channel adapters: the only place that speaks a platform's protocol or imports its SDK."""
