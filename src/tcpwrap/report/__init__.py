"""`tcpwrap report`: merge connection logs of many hosts and point at probing remote hosts.

Pipeline (one module per concern): sources (bytes → bounded lines, year and zone) → parse
(line → Event) → merge (time order across files, duplicates removed) → query (filters) →
detect (findings) → render_text / render_json / render_html. `cli` wires them together.
"""
