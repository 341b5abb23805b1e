#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Regenerates the seeds of the daemon's parsers' fuzz targets: corpus/{dump,config_text,passwd,
mountinfo,user_block}/ (corpus/policy/ is make_corpus.py's). Run from anywhere:
python3 tests/fuzz/make_parser_corpus.py. Each seed is a real-world shape or one edge case; several
hold CRs, NULs, control bytes or invalid UTF-8 on purpose. Found-and-fixed inputs are named
fixed-*; this script does not write those, so they survive a rerun."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def w(target, name, text):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- dump: `sshd -T` and `ssh -G` output (OpenSSH 9.2, Debian 12), cut to what matters.
w("dump", "sshd_T.txt",
  "port 22\naddressfamily any\nlistenaddress [::1]:2222\nlistenaddress 127.0.0.1:22\n"
  "usepam yes\nlogingracetime 120\nclientaliveinterval 30\nclientalivecountmax 3\n"
  "tcpkeepalive yes\nsubsystem sftp /usr/lib/openssh/sftp-server\n"
  "acceptenv LANG LC_*\nchanneltimeout none\nunusedconnectiontimeout none\npermitlisten any\n")
w("dump", "ssh_G.txt",
  "host db-01.example.com\nuser root\nhostname db-01.example.com\nport 22\n"
  "serveraliveinterval 0\nserveralivecountmax 3\ntcpkeepalive yes\n"
  "identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\n"
  "sendenv LANG\nsendenv LC_*\nproxycommand ssh -W %h:%p jump\n")
w("dump", "no_trailing_newline.txt", "clientaliveinterval 15\nclientalivecountmax 0")
w("dump", "crlf_and_blanks.txt", "clientaliveinterval  60\r\n keyword-with-lead 1\r\n\r\nlone\n")
w("dump", "empty_value_and_tabs.txt", "listenaddress \ntcpkeepalive\tno\n \nx y z\n")
w("dump", "control_bytes.txt", b"listenaddress 0.0.0.0:22\x1b[2J\nbanner \xff\xfe\x00x\n")
w("dump", "repeated_keys.txt",
  "listenaddress [::]:22\nlistenaddress 0.0.0.0:22\nlistenaddress [fe80::1%eth0]:2222\n"
  "clientaliveinterval 1\nclientaliveinterval 2\n")

# --- config_text: sshd_config / ssh_config as the daemon scans them.
w("config_text", "sshd_config.txt",
  "# comment\nInclude /etc/ssh/sshd_config.d/*.conf\n\nPort 22\nClientAliveInterval 300\n"
  "Match User alice,bob Address 10.0.0.0/8\n    ClientAliveCountMax 0\nMatch all\n")
w("config_text", "ssh_config.txt",
  "Host *.example.com !bastion\n  ServerAliveInterval=60\n  ProxyCommand ssh -W \"%h:%p\" jump\n"
  "Host *\n\tSendEnv LANG LC_*\n\tServerAliveCountMax = 3\n")
w("config_text", "equals_forms.txt", "A=b\nC = d\nE =f\nG= h\n=lonely\nH==i\nJ \"=\" k\n")
w("config_text", "quotes.txt",
  'IdentityFile "/home/a b/key"\nX "" y\nY "unterminated value\nZ a"b"c\nQ "\n')
w("config_text", "crlf.txt", "Port 22\r\nClientAliveInterval 60\r\n\r\n# c\r\nMatch all\r\n")
w("config_text", "odd_blanks.txt", b"\x0bPort 22\n\x0cX y\n \t\r\n Z\t\"a\x0bb\"  \n\x00nul 1\n")
w("config_text", "no_trailing_newline.txt", "Port 22\nClientAliveInterval 60")
w("config_text", "long_line.txt", "Keyword " + "a " * 2000 + "\n")
w("config_text", "invalid_utf8.txt", b"\xc3\x28Key \xff\xfe value\n\xe2\x82 x\n")

# --- passwd: /etc/passwd as the daemon reads it (no NSS).
w("passwd", "debian.txt",
  "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
  "sshd:x:104:65534::/run/sshd:/usr/sbin/nologin\n"
  "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
  "bob:x:1001:1001:Bob:/srv/homes/bob:/bin/zsh\n")
w("passwd", "nis_and_comments.txt",
  "# local\n+@admins::::::\n-mallory::::::\n+::::::\n\ncarol:x:1002:1002::/home/carol:/bin/sh\n")
w("passwd", "gecos_injection.txt",
  "eve:x:1003:1003:Eve\x1b[31m\x07:/home/eve:/bin/bash\n"
  "frank:x:1004:1004:a:b:c:/home/frank:/bin/bash\n"
  "grace:x:1005:1005:G\r:/home/grace\r:/bin/bash\r\n")
w("passwd", "ids_at_limits.txt",
  "max:x:4294967295:4294967295::/home/max:/bin/sh\nover:x:4294967296:1::/home/over:/bin/sh\n"
  "lead:x:0001000:01000::/home/lead:/bin/sh\nneg:x:-1:1::/home/neg:/bin/sh\n"
  "plus:x:+5:1::/home/plus:/bin/sh\nempty:x::1::/home/empty:/bin/sh\n"
  "long:x:12345678901:1::/home/long:/bin/sh\n")
w("passwd", "homes.txt",
  "slash:x:2000:2000::/:/bin/sh\nrel:x:2001:2001::home/rel:/bin/sh\n"
  "none:x:2002:2002:::/bin/sh\nspace:x:2003:2003::/home/a b:/bin/sh\n"
  "dots:x:2004:2004::/home/../etc:/bin/sh\n")
w("passwd", "short_and_long_lines.txt",
  "a:x:1:1\n:x:1:1::/h:/s\nb:x:2:2::/h:/s:extra\nc:x:3:3::/h:/s")
w("passwd", "nul_and_utf8.txt", b"n\x00ul:x:3000:3000::/home/n\x00ul:/bin/sh\n\xc3\xa9t\xc3\xa9:x:3001:3001::/home/\xff:/bin/sh\n")

# --- mountinfo: /proc/self/mountinfo (proc(5)).
w("mountinfo", "debian.txt",
  "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
  "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
  "40 27 0:35 / /home rw,relatime shared:20 - nfs4 srv:/export/home rw,vers=4.2\n"
  "41 40 0:36 / /home/alice rw,nosuid,nodev,relatime shared:21 - fuse.sshfs alice@h: rw\n"
  "42 27 0:37 / /home2 rw,relatime - ext4 /dev/sdb1 rw\n"
  "43 27 0:38 / /net rw,relatime - autofs systemd-1 rw,fd=48\n")
w("mountinfo", "escapes.txt",
  "50 27 0:40 / /home/a\\040b rw - ext4 /dev/x rw\n"
  "51 27 0:41 / /mnt/tab\\011x rw - fuse /dev/fuse rw\n"
  "52 27 0:42 / /mnt/back\\134slash rw - nfs s:/e rw\n"
  "53 27 0:43 / /mnt/nl\\012x rw - tmpfs t rw\n"
  "54 27 0:44 / /mnt/bad\\9 rw - tmpfs t rw\n"
  "55 27 0:45 / /mnt/end\\04 rw - tmpfs t rw\n"
  "56 27 0:46 / /mnt/nul\\000x rw - tmpfs t rw\n")
w("mountinfo", "stacked_and_optional_fields.txt",
  "60 27 0:50 / /srv rw - ext4 a rw\n"
  "61 60 0:51 / /srv rw shared:3 master:4 propagate_from:5 unbindable - nfs b:/c rw\n"
  "62 27 0:52 / /srv/x rw - - ext4 rw\n")
w("mountinfo", "malformed.txt",
  "1 2 3\n70 27 0:60 / relative rw - ext4 d rw\n71 27 0:61 / /nosep rw shared:1 ext4 d rw\n"
  "72 27 0:62 / /notype rw -\n\n   \n73\t27\t0:63\t/\t/tabs\trw\t-\tnfs\ts\trw\r\n")
w("mountinfo", "no_trailing_newline.txt", "80 27 0:70 / /data rw - cifs //s/d rw")

# --- user_block: ~/.ssh/config files; the first byte picks the settings when no
# "\n%%settings%%\n" follows (0 mod 3: remove the block, 1: three keywords, 2: one).
BLOCK = ("# BEGIN keepalive-policy: the client keepalive values of the policy\n"
         "# (client.per_user_block). keepalive-policyd rewrites the lines between the markers;\n"
         "# your own settings above win, because ssh keeps the first value it reads.\n"
         "Host *\n  ServerAliveInterval 60\n  ServerAliveCountMax 3\n  TCPKeepAlive no\n"
         "# END keepalive-policy\n")
SET = "\n%%settings%%\n"
w("user_block", "add_to_plain.txt", "1Host work\n  User alice\n")  # '1' = 0x31: 49 % 3 == 1
w("user_block", "replace_existing.txt", "2Host *\n  ForwardAgent no\n" + BLOCK)
w("user_block", "remove_existing.txt", "0Host a\n" + BLOCK + "Host b\n  Port 2222\n")
w("user_block", "crlf.txt", ("1Host x\n" + BLOCK).replace("\n", "\r\n"))
w("user_block", "no_trailing_newline.txt", "1Host x\n  User y")
w("user_block", "cr_only_last_line.txt", "1Host x\r")
w("user_block", "empty.txt", "")
w("user_block", "markers_broken.txt",
  "1# END keepalive-policy\n# BEGIN keepalive-policy\n# BEGIN keepalive-policy\n")
w("user_block", "begin_without_end.txt", "1  # BEGIN keepalive-policy\t\nHost *\n")
w("user_block", "two_blocks.txt", "2" + BLOCK + BLOCK)
w("user_block", "near_markers.txt",
  "1# BEGIN keepalive-policy-x\n# END keepalive-policy_y\n#BEGIN keepalive-policy\n"
  "# BEGIN keepalive-policy.old\n")
w("user_block", "settings_fuzzed_ok.txt", "Host a\n" + SET + "ServerAliveInterval 5\nTCPKeepAlive yes")
w("user_block", "settings_injection.txt",
  "Host a\n" + SET + "ServerAliveInterval 5\nHost evil\nProxyCommand sh -c id\nX \x1b[2J\n")
w("user_block", "settings_empty_value.txt", "Host a\n" + SET + "ServerAliveInterval\n")
