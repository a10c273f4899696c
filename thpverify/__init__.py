"""thpverify: a formal verifier for the Linux THP eligibility decision."""

__version__ = "0.1.0"
