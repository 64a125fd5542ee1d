"""Helpers the test suite shares: real services and real worker processes."""
