"""Test harness: the private namespace (ns_enter.sh), syslog capture, a small identd.

Importable as `harness` because pytest puts tests/ on sys.path (tests/ has no __init__.py).
"""
