// Renders an SVG file in headless Chromium (Debian package `chromium`) into a
// PNG and measures it with Pillow (python3-pil), for the timeline tests of
// bench and run: is the picture there at all, or blank?
#pragma once

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace sluice::test {

/// What the screenshot holds: its size, the fraction of pixels that are not
/// white, and the number of distinct colours.
/// Thread safety: a plain value.
struct png_stats {
  int width = 0, height = 0;
  double non_white = 0;
  int colours = 0;
};

/// Screenshots `svg` (an absolute path) at `width` x `height` into `png`
/// with headless Chromium (HOME and its profile in a fresh temporary
/// directory, no sandbox as root, killed after 60 s), then decodes it.
/// nullopt when either step fails; `log` gets what the programs said.
/// Thread safety: safe to call concurrently (each call has its own profile).
inline std::optional<png_stats> screenshot_svg(const std::filesystem::path& svg,
                                               const std::filesystem::path& png, int width,
                                               int height, std::string& log) {
  temp_dir home("sluice-chromium");
  process_options po;
  po.env["HOME"] = home.path().string();
  po.timeout = std::chrono::seconds(60);
  auto r =
      run_process({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--user-data-dir=" + (home / "profile").string(), "--screenshot=" + png.string(),
                   "--window-size=" + std::to_string(width) + "," + std::to_string(height),
                   "file://" + svg.string()},
                  po);
  log = r.out + r.err;
  if (r.exit_code != 0 || !std::filesystem::exists(png)) {
    return std::nullopt;
  }
  // Debian's python3, which has Pillow (a pyenv shim in PATH may not).
  const char* script =
      "import sys\n"
      "from PIL import Image\n"
      "im = Image.open(sys.argv[1]).convert('RGB')\n"
      "px = list(im.getdata())\n"
      "nw = sum(1 for p in px if p != (255, 255, 255))\n"
      "print(im.size[0], im.size[1], nw / len(px), len(set(px)))\n";
  auto py = run_process({"/usr/bin/python3", "-c", script, png.string()});
  log += py.err;
  if (py.exit_code != 0) {
    return std::nullopt;
  }
  png_stats s;
  std::istringstream in(py.out);
  if (!(in >> s.width >> s.height >> s.non_white >> s.colours)) {
    return std::nullopt;
  }
  return s;
}

}  // namespace sluice::test
