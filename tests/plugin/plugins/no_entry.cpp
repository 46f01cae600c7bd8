// A shared library that is not a plugin: it exports no `sluice_plugin_entry`.
extern "C" int sluice_test_not_a_plugin() {
  return 42;
}
