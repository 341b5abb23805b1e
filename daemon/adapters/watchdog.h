#pragma once

namespace keepalive::daemon {

// Tells systemd the daemon is alive (WATCHDOG=1) when the service has a watchdog, at most twice
// a second. Called from inside the bounded waits of a transaction (a reload job, sshd -t, the
// banner probe): they block the event loop for up to their deadline, and a bounded wait is not
// a hang.
void watchdogPing();
// Only the thread that called this pings: the event loop's. A worker stuck in a blocking call
// must not keep the watchdog happy, and the pacing state is the loop's alone.
void watchdogOwnThread();

}  // namespace keepalive::daemon
