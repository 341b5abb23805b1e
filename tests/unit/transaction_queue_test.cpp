// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/transaction_queue.h"

#include <catch2/catch.hpp>

using namespace keepalive::daemon;

namespace {
using Queue = TransactionQueue<int, std::string>;
}

TEST_CASE("transaction queue: nothing waits, nothing runs") {
  Queue q;
  CHECK_FALSE(q.pending());
  CHECK_FALSE(q.next());
}

TEST_CASE("transaction queue: requests during a run coalesce into one follow-up apply") {
  Queue q;
  q.requestApply("policy changed");
  q.requestApply("SIGHUP", 1);
  q.requestApply("SIGHUP");
  q.requestApply("D-Bus Reload", 2);
  q.requestReconcile("drop-in directory changed");
  q.requestCheck("root");
  auto run = q.next();
  REQUIRE(run);
  CHECK(run->kind == RunKind::kApply);
  CHECK(run->trigger == "policy changed, SIGHUP, D-Bus Reload");
  CHECK(run->reloads == std::vector<int>{1, 2});
  // The apply installs the policy, drift included: no reconcile after it; the Check waits for
  // its own verification, which sees the result of the apply.
  run = q.next();
  REQUIRE(run);
  CHECK(run->kind == RunKind::kVerify);
  CHECK(run->checks == std::vector<std::string>{"root"});
  CHECK_FALSE(q.next());
  CHECK_FALSE(q.pending());
}

TEST_CASE("transaction queue: a reconcile alone, then Checks together") {
  Queue q;
  q.requestReconcile("drift");
  q.requestReconcile("drift");
  q.requestReconcile("periodic drift");
  q.requestCheck("alice");
  q.requestCheck("root");
  auto run = q.next();
  REQUIRE(run);
  CHECK(run->kind == RunKind::kReconcile);
  CHECK(run->trigger == "drift, periodic drift");
  run = q.next();
  REQUIRE(run);
  CHECK(run->kind == RunKind::kVerify);
  CHECK(run->checks.size() == 2);
}

TEST_CASE("transaction queue: a Reload that comes after the apply started waits for the next") {
  Queue q;
  q.requestApply("start");
  auto first = q.next();
  REQUIRE(first);
  CHECK(first->reloads.empty());
  q.requestApply("D-Bus Reload", 7);  // the running apply read the files before this call
  REQUIRE(q.pending());
  auto second = q.next();
  REQUIRE(second);
  CHECK(second->kind == RunKind::kApply);
  CHECK(second->reloads == std::vector<int>{7});
}
