// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's status as Prometheus metrics, in the text exposition format that node_exporter's
// textfile collector reads. Pure: the adapter (adapters/metrics_writer.h) writes the file.
#pragma once

#include <string>

#include "status.h"

namespace keepalive::daemon {

// Every metric family with HELP and TYPE, in the order of statusProperties(): a property with a
// metric of its own is a plain number; the others are rendered here by property name. Equal
// inputs give equal bytes, so the writer can skip a rewrite by comparing them. No sample carries a
// timestamp: the textfile collector rejects files that do; node_textfile_mtime_seconds says how
// fresh the file is.
std::string renderMetrics(const DaemonStatus& in);

// A label value as the exposition format wants it: first keepalive::escape() (node_exporter
// drops the whole file over one byte that is not UTF-8; control bytes, newlines included, become
// the text \xNN), then the format's \ and " escaped.
std::string escapeLabelValue(const std::string& v);

}  // namespace keepalive::daemon
