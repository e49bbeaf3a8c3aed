"""policywatch: watches the policy pages that AI-training verdicts rest on."""

__version__ = "0.1.0"
