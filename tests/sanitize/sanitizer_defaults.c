// SPDX-License-Identifier: GPL-2.0-or-later
/* Linked into every program of a KEEPALIVE_SANITIZE build. The daemon starts its children with a
 * clean environment (the per-user helper, as the user), so ASAN_OPTIONS set by the test run never
 * reaches them; these defaults do, and an environment variable still overrides each of them.
 * Every report ends the process. ASan and LSan reports also go to a file under
 * KEEPALIVE_SANITIZER_LOG_DIR, so a report in a child whose failure a test tolerates still fails
 * the run (scripts/sanitize.sh looks there after the tests); GCC's combined runtime prints
 * UBSan's on stderr whatever log_path says. */
#if !defined(KEEPALIVE_SANITIZER_LOG_DIR) || !defined(KEEPALIVE_LSAN_SUPPRESSIONS)
#error "KEEPALIVE_SANITIZER_LOG_DIR and KEEPALIVE_LSAN_SUPPRESSIONS must be defined by the build"
#endif

#define KEEPALIVE_SANITIZER_COMMON \
  "halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=" KEEPALIVE_SANITIZER_LOG_DIR

const char* __asan_default_options(void);
const char* __ubsan_default_options(void);
const char* __lsan_default_options(void);

const char* __asan_default_options(void) {
  /* detect_leaks: LeakSanitizer runs at exit of every process, the daemon's included (it exits
   * through main on SIGTERM). strict_string_checks and the init-order check catch what the
   * defaults let pass. verify_asan_link_order=0: the fault suite preloads its shim
   * (tests/fault/fault_shim.c) ahead of GCC's shared ASan runtime, which would otherwise refuse
   * to start; the shim's calls reach ASan's interceptors through dlsym(RTLD_NEXT) all the same. */
  return KEEPALIVE_SANITIZER_COMMON
      "/asan:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:"
      "strict_init_order=1:verify_asan_link_order=0";
}

const char* __ubsan_default_options(void) {
  return KEEPALIVE_SANITIZER_COMMON "/ubsan";
}

/* Leaks in third-party libraries only, each with its reason, in tests/sanitize/lsan.supp. */
const char* __lsan_default_options(void) {
  return "suppressions=" KEEPALIVE_LSAN_SUPPRESSIONS ":print_suppressions=0";
}
