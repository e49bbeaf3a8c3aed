"""Benchmarks of policywatch: throughput, memory and storage, beside peers."""
