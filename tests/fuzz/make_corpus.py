#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Regenerates the seed corpus in corpus/policy/ (the policy parser's seeds: the nasty YAML cases and a few valid policies).

Run from anywhere: python3 tests/fuzz/make_corpus.py. Files are written byte-exact; several hold
control characters, BOMs, NUL or invalid UTF-8 on purpose. Inputs joined with SEP are several
policy files to the harness (policy.yaml, policy.d/10-site.yaml, policy.d/20-local.yaml)."""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
D = os.path.join(HERE, "corpus", "policy")
os.makedirs(D, exist_ok=True)
SEP = "\n#%%file%%\n"
def w(name, text):
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    with open(os.path.join(D, name), "wb") as f:
        f.write(data)

example = open(os.path.join(HERE, "..", "..", "examples", "policy.yaml")).read()
w("valid_full_example.yaml", example)

# billion laughs: nine levels of nested aliases (expands to 9^9 items if a reader resolves them)
lines = ["version: 1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
prev = "a"
for name in "bcdefghi":
    lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    prev = name
lines.append("users: {exclude: *i}")
w("billion_laughs.yaml", "\n".join(lines) + "\n")

w("alias_self_reference.yaml", "version: 1\nusers: &u\n  exclude: *u\nhosts: &h [*h]\nloop: &l {a: *l}\n")
w("alias_undefined.yaml", "version: *nope\nserver: {tcp_keepalive: *missing}\n")
w("anchors_and_merge_key.yaml",
  "version: &v 1\nnetwork: &net\n  idle_timeout: &t 10m\nserver:\n  client_alive_interval: *t\n"
  "hosts:\n  - match: &m [\"db-*\"]\n    network: *net\n  - match: *m\n    <<: *net\n"
  "    server: {<<: {client_alive_count_max: 2}}\n")

w("deep_flow_sequence.yaml", "version: 1\nusers: {exclude: " + "[" * 3000 + "]" * 3000 + "}\n")
w("deep_flow_mapping.yaml", "version: 1\nhosts: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n")
deep = "version: 1\n"
for i in range(60):
    deep += "  " * i + f"k{i}:\n"
deep += "  " * 60 + "leaf\n"
w("deep_block_mapping.yaml", deep)
w("deep_block_sequence.yaml", "version: 1\nhosts:\n" + "".join("  " * i + "-\n" for i in range(1, 80)) + "  " * 80 + "- x\n")
w("depth_at_limit.yaml", "version: 1\nusers:\n  exclude: " + "[" * 29 + "a" + "]" * 29 + "\n")

w("many_documents.yaml", "version: 1\n" + "---\nversion: 1\n...\n" * 300)
w("two_documents.yaml", "version: 1\n---\nserver: {tcp_keepalive: false}\n")
w("document_markers_only.yaml", "---\n...\n---\n")

w("tags.yaml",
  "%TAG !py! tag:yaml.org,2002:python/\n---\n"
  "version: !!int 1\nnetwork: !!map {idle_timeout: !!str 10m}\n"
  "server: {tcp_keepalive: !!bool yes, client_alive_count_max: !<tag:yaml.org,2002:int> 3}\n"
  "users:\n  exclude: [!!str 007, !!python/object/apply:os.system [\"id\"], !local x, ! nonspecific]\n"
  "  action: !py!object:builtins.print report\n"
  "hosts: !!seq\n  - !!map {match: [!!binary aGVsbG8=], server: !!null ~}\n")
w("tag_python_object.yaml", "!!python/object:__main__.Exploit\nversion: 1\n")

w("duplicate_keys.yaml",
  "version: 1\nversion: 1\nserver:\n  tcp_keepalive: true\n  tcp_keepalive: false\nserver: {}\n"
  "users: {exclude: [a], exclude: [b]}\nhosts:\n  - match: [a]\n    match: [b]\n    client: {per_user_block: true, per_user_block: true}\n"
  "\"version\": 1\n'server': ~\n")
w("complex_keys.yaml", "version: 1\n? [a, b]\n: 1\n{x: 1}: 2\n? |\n  block key\n: 3\n[k]: v\nnull: 1\n~: 2\n: empty\n")

w("yaml11_booleans.yaml",
  "version: 1\nserver:\n  tcp_keepalive: yes\n  ensure_include: on\n  client_alive_interval: y\n  client_alive_count_max: No\n"
  "client:\n  tcp_keepalive: OFF\n  per_user_block: Y\n  server_alive_interval: true\n  server_alive_count_max: FALSE\n"
  "users:\n  action: off\n  exclude: [yes, on, n, \"no\", True]\n  min_uid: NO\nhosts:\n  - match: [y, ON]\n    users: {action: 'off'}\n")

w("numbers.yaml",
  "version: 1\nreconcile_interval: 0x10\nnetwork: {idle_timeout: 0600}\n"
  "server: {client_alive_interval: -1, client_alive_count_max: 99999999999999999999999999999999}\n"
  "client: {server_alive_interval: +30, server_alive_count_max: 0o17}\n"
  "users:\n  min_uid: 4294967295\n  config_mode: 0600\n  ssh_dir_mode: \"0x1ff\"\n")
w("numbers_more.yaml",
  "version: 1.0\nreconcile_interval: 1e3\nnetwork: {idle_timeout: .inf}\n"
  "server: {client_alive_interval: 1_000, client_alive_count_max: 3.0}\n"
  "client: {server_alive_interval: .nan, server_alive_count_max: 0b11}\n"
  "users: {min_uid: 9223372036854775808, config_mode: \"7777\", ssh_dir_mode: \"0o700\"}\n")
w("numbers_limits.yaml",
  "version: 1\nreconcile_interval: 10\nnetwork: {idle_timeout: 7d}\n"
  "server: {client_alive_interval: 604800, client_alive_count_max: 1000}\n"
  "client: {server_alive_interval: 6d23h59m59s, server_alive_count_max: 1}\n"
  "users: {min_uid: 4294967294, config_mode: \"0400\", ssh_dir_mode: \"700\"}\n")
w("durations_bad.yaml",
  "version: 1\nreconcile_interval: 8d\nnetwork: {idle_timeout: 2s}\n"
  "server: {client_alive_interval: 1m1h, client_alive_count_max: 00}\n"
  "client: {server_alive_interval: 5m5m, server_alive_count_max: 0}\n"
  "hosts:\n  - match: [x]\n    network: {idle_timeout: 10x}\n    server: {client_alive_interval: 30}\n")
w("sexagesimal.yaml",
  "version: 1\nreconcile_interval: 1:30\nnetwork: {idle_timeout: 190:20:30}\n"
  "server: {client_alive_interval: \"1:30\", client_alive_count_max: 1:0}\nusers: {exclude: [1:30, 22:22]}\n")

w("string_escapes.yaml",
  "version: 1\nusers:\n  exclude: [\"nul\\0byte\", \"line\\nbreak\", \"#comment\", \"tab\\there\", \"\\e[31mred\", "
  "\"bell\\a\", \"del\\x7f\", \"ls\\u2028sep\", \"cr\\r\", \"\\N\\_\\L\\P\", \"sp ace\", \"\"]\n"
  "hosts:\n  - match: [\"db-*\\n  - match: [evil]\", \"\\x00\", '#x']\n    server: {client_alive_count_max: 2}\n"
  "\"key\\nwith\\nnewlines\": 1\n\"\\0\": 2\n")
w("string_escapes_in_values.yaml",
  "version: 1\nserver: {client_alive_interval: \"30s\\n\", client_alive_count_max: \"3\"}\n"
  "users: {action: \"report\\0\", config_mode: \"0600\\n\", ssh_dir_mode: '0700 '}\n"
  "network: {idle_timeout: \"10m#\"}\n")
w("control_chars_raw.yaml", b"version: 1\nusers:\n  exclude: [a\x01b, c\x1bd, e\x7ff]\n\x0c\n")
w("nul_byte_raw.yaml", b"version: 1\x00\nserver: {}\n")
w("invalid_utf8.yaml", b"version: 1\nusers: {exclude: [\xff\xfe, \xc3\x28, \xed\xa0\x80]}\n")

w("flow_style.yaml",
  "{version: 1, reconcile_interval: 1h, network: {idle_timeout: 10m}, "
  "server: {client_alive_interval: 2m, client_alive_count_max: 3, tcp_keepalive: true, ensure_include: false}, "
  "client: {server_alive_interval: 4m, server_alive_count_max: 3, tcp_keepalive: false, per_user_block: true}, "
  "users: {action: enforce, min_uid: 1000, exclude: [backup, \"svc-*\"], config_mode: \"0600\", ssh_dir_mode: \"0700\"}, "
  "hosts: [{match: [\"db-*\"], server: {client_alive_interval: 1m}}]}\n")
w("block_style.yaml",
  "version: 1\nnetwork:\n  idle_timeout: |\n    10m\nserver:\n  client_alive_interval: >-\n    2m\n"
  "  client_alive_count_max: 3\nusers:\n  exclude:\n    - backup\n    - |-\n      svc-*\n"
  "  config_mode: >\n    0600\n  ssh_dir_mode: '0700'\nhosts:\n- match:\n  - db-*\n  server:\n    client_alive_interval: 1m\n")
w("crlf_line_endings.yaml", example.replace("\n", "\r\n"))
w("tabs_indentation.yaml", "version: 1\nserver:\n\tclient_alive_interval: 2m\n")
w("yaml_directive.yaml", "%YAML 1.1\n---\nversion: 1\nserver: {tcp_keepalive: true}\n")
w("yaml_directive_bad.yaml", "%YAML 2.0\n%YAML 1.2\n%FOO bar\n---\nversion: 1\n")
w("null_values.yaml",
  "version: 1\nreconcile_interval:\nnetwork:\nserver: ~\nclient: null\nusers: {action: , exclude: }\nhosts:\n")
w("wrong_types.yaml",
  "version: [1]\nnetwork: 10m\nserver: [a]\nclient: \"x\"\nusers: {exclude: backup, action: [enforce], min_uid: {a: 1}}\nhosts: {match: x}\n")
w("unknown_keys.yaml",
  "version: 1\nClientAliveInterval: 2m\nidle_timeout: 10m\nserver: {client-alive-interval: 2m, ServerAliveInterval: 1m, clinet_alive_count_max: 3}\n"
  "hosts: [{match: [a], version: 1, hosts: [], serverr: {}}]\n" + "x" * 300 + ": 1\n")
w("only_version.yaml", "version: 1\n")
w("version_unsupported.yaml", "version: 2\nserver: {tcp_keepalive: true}\n")
w("missing_version.yaml", "server: {tcp_keepalive: true}\n")
w("scalar_root.yaml", "just a string\n")
w("sequence_root.yaml", "- version: 1\n")

w("derived_intervals.yaml", "version: 1\nnetwork: {idle_timeout: 3s}\nclient: {per_user_block: true}\n")
w("rule_violations.yaml",
  "version: 1\nreconcile_interval: 0\nnetwork: {idle_timeout: 10m}\n"
  "server: {client_alive_interval: 5m, client_alive_count_max: 0}\nclient: {server_alive_interval: 298, server_alive_count_max: 50}\n"
  "users: {min_uid: 0, config_mode: \"0622\", ssh_dir_mode: \"0600\"}\n")
w("host_overrides.yaml",
  "version: 1\nnetwork: {idle_timeout: 15m}\nserver: {client_alive_interval: 5m, client_alive_count_max: 3, tcp_keepalive: false}\n"
  "client: {server_alive_interval: 5m, server_alive_count_max: 3}\nusers: {action: report, exclude: [root]}\n"
  "hosts:\n  - match: [\"db-*\", \"*.dmz.example.com\"]\n    network: {idle_timeout: 6m}\n    server: {client_alive_interval: 1m, client_alive_count_max: 2}\n"
  "  - match: [\"WEB-[0-9]*\", \"*.example.org.\"]\n    client: {server_alive_interval: 30s, tcp_keepalive: true, per_user_block: true}\n"
  "    users: {action: enforce, min_uid: 500, exclude: [\"svc-*\", \"[!a-z]*\"]}\n"
  "  - match: [\"db-01\"]\n    server: {tcp_keepalive: true, ensure_include: true}\n    network: {idle_timeout: 1h}\n"
  "  - match: [\"nothing-matches-this\"]\n    client: {server_alive_count_max: 5}\n")
w("host_overrides_problems.yaml",
  "version: 1\nnetwork: {idle_timeout: 10m}\nhosts:\n  - match: [\"db-*\"]\n    server: {client_alive_interval: 6m}\n"
  "  - match: [\"nothing-matches-this\"]\n  - match: []\n    server: {}\n")
w("host_overrides_bad_globs.yaml",
  "version: 1\nhosts:\n  - match: [\"*\", \"**\", \"[\", \"\\\\\", \"[]]\", \"*[!]\", \"db-0?.*\"]\n    server: {client_alive_interval: 1m}\n"
  "  - match: \"db-*\"\n  - server: {client_alive_interval: 1m}\n  - just-a-scalar\n")

w("empty.yaml", "")
w("whitespace_only.yaml", "\n\n   \n\t\n")
w("comments_only.yaml", "# keepalive-policy fragment\n# nothing here yet\n   # indented comment\n#\n")
w("bom_utf8.yaml", b"\xef\xbb\xbf" + example.encode())
w("bom_utf8_twice.yaml", b"\xef\xbb\xbf\xef\xbb\xbfversion: 1\n")
w("bom_utf16le.yaml", "\ufeffversion: 1\nserver: {tcp_keepalive: true}\n".encode("utf-16-le"))
w("bom_utf32be.yaml", "\ufeffversion: 1\n".encode("utf-32-be"))

# merging: up to three files separated by the harness's separator line
w("merge_three_files.yaml", SEP.join([
  example,
  "version: 1\nnetwork: {idle_timeout: 20m}\nusers: {exclude: [ops]}\nhosts:\n  - match: [\"web-*\"]\n    client: {server_alive_interval: 1m}\n",
  "version: 1\nserver: {tcp_keepalive: false, ensure_include: true}\nclient: {per_user_block: true}\nreconcile_interval: 30m\n"]))
w("merge_fragment_errors.yaml", SEP.join([
  "version: 1\nnetwork: {idle_timeout: 10m}\n",
  "server: {client_alive_interval: 9m}\n",
  "version: 1\n---\n"]))
w("merge_empty_and_comments.yaml", SEP.join(["", "# only a comment\n", "version: 1\n"]))
w("merge_more_separators.yaml", SEP.join(["version: 1\n"] * 6))
w("merge_conflicting.yaml", SEP.join([
  "version: 1\nnetwork: {idle_timeout: 1h}\nserver: {client_alive_interval: 25m}\n",
  "version: 1\nnetwork: {idle_timeout: 5m}\n",
  "version: 1\nhosts: [{match: [\"db-*\"], network: {idle_timeout: 2h}}]\n"]))

# text from the policy that reaches a diagnostic message unescaped (terminal escapes, line breaks)
w("diagnostic_text_injection.yaml",
  "version: 1\n\"x\\e[2J\\nforged.yaml:1:1: error: injected\": 1\n\"x\\e[2J\\nforged.yaml:1:1: error: injected\": 2\n")
# strings that pass the byte checks but are not clean text: invalid UTF-8, C1 controls, bidi
w("unicode_controls.yaml",
  "version: 1\nusers: {exclude: [\"\\u009b31m\", \"a\\u202eb\", \"\\u200b\", \"\\uFEFFx\"]}\n"
  "hosts:\n  - match: [\"db\\u2028-*\"]\n    server: {client_alive_count_max: 2}\n")
