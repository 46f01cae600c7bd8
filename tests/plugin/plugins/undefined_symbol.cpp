// A shared library with an unresolved symbol: dlopen(RTLD_NOW) refuses it.
extern "C" int sluice_test_symbol_nobody_defines(int);
extern "C" int sluice_test_uses_missing(int x) {
  return sluice_test_symbol_nobody_defines(x);
}
