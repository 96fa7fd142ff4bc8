"""The report: clean error rates, adversarial effort, robust accuracy, claims, figures."""
