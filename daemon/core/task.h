// SPDX-License-Identifier: GPL-2.0-or-later
// The apply transaction as a state machine on the one event loop, written as C++20 coroutines:
// the compiler turns each co_await into a state and a resumption point, so the steps (write,
// sshd -t, reload, JobRemoved, sshd -T, probe) read in order while the loop stays free between
// them. An adapter starts its operation (a child process, a bus call) and calls back when it
// ends; that callback resumes the transaction. A fake that answers at once resumes nothing: the
// coroutine simply goes on, so unit tests run a whole transaction synchronously.
//
// Pure: no event loop, no syscalls. Single-threaded: callbacks must come on the loop's thread.
#pragma once

#include <algorithm>
#include <coroutine>
#include <exception>
#include <functional>
#include <list>
#include <optional>
#include <type_traits>
#include <utility>

namespace keepalive::daemon {

// How an asynchronous port answers: exactly once, on the loop's thread, possibly before the
// call that started it has returned (fakes, cached answers).
template <class T>
using Done = std::function<void(T)>;

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct Final {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      // Symmetric transfer to whoever awaited this task: no stack growth over long chains.
      if (auto c = h.promise().continuation)
        return c;
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
  void unhandled_exception() { error = std::current_exception(); }
};

}  // namespace detail

namespace detail {
// What a coroutine hands back: a value, or nothing for Task<void>.
template <class T>
struct ReturnsValue {
  std::optional<T> value;
  void return_value(T v) { value = std::move(v); }
};
struct ReturnsVoid {
  void return_void() {}
};
}  // namespace detail

// A lazily started coroutine returning T. Awaiting it runs it; the awaiter resumes when it ends.
// The Task owns its frame: destroying a suspended Task destroys the chain below it (the daemon
// stopping mid-transaction).
template <class T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type
      : detail::PromiseBase,
        std::conditional_t<std::is_void_v<T>, detail::ReturnsVoid, detail::ReturnsValue<T>> {
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };

  Task() = default;  // empty: done(), nothing to run
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error)
      std::rethrow_exception(h_.promise().error);
    if constexpr (!std::is_void_v<T>)
      return std::move(*h_.promise().value);
  }

  // For the owner of a top-level task: starts it (it runs until its first real wait).
  void start() { h_.resume(); }
  bool done() const { return !h_ || h_.done(); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  void reset() {
    if (h_)
      h_.destroy();
    h_ = {};
  }
  std::coroutine_handle<promise_type> h_{};
};

// Owns top-level tasks that nobody awaits (a transaction, an adapter's chain of bus calls):
// each runs from spawn until it ends; an ended one is destroyed at a later spawn, never while it
// runs (its done may spawn the next one). Destroying the set destroys what still waits.
class TaskSet {
 public:
  void spawn(Task<void> t) {
    tasks_.remove_if([](const Task<void>& x) { return x.done(); });
    tasks_.push_back(std::move(t));
    tasks_.back().start();
  }
  bool empty() const {
    return std::all_of(tasks_.begin(), tasks_.end(), [](const Task<void>& x) { return x.done(); });
  }

 private:
  std::list<Task<void>> tasks_;
};

// Awaits an operation that reports through a Done<T> callback:
//   CheckResult r = co_await callback<CheckResult>([&](Done<CheckResult> d) { sshd.test(d); });
// An answer given before start returns goes on without suspending.
template <class T>
class Callback {
 public:
  explicit Callback(std::function<void(Done<T>)> start) : start_(std::move(start)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    waiting_ = h;
    start_([this](T v) {
      result_ = std::move(v);
      if (suspended_)
        waiting_.resume();
    });
    if (result_)
      return false;
    suspended_ = true;
    return true;
  }
  T await_resume() { return std::move(*result_); }

 private:
  std::function<void(Done<T>)> start_;
  std::optional<T> result_;
  std::coroutine_handle<> waiting_;
  bool suspended_ = false;
};

template <class T>
Callback<T> callback(std::function<void(Done<T>)> start) {
  return Callback<T>(std::move(start));
}

}  // namespace keepalive::daemon
