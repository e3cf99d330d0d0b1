"""The three status pages, opened in headless Chromium on a running topology: each renders
without script errors and shows its chart of the recent past."""
import os
import shutil
import tempfile
import time
import unittest

from suite_harness import browser
from suite_harness import topology as T
from suite_harness.waiting import wait_until

# What each page's chart must contain, and a color of its drawing that the screenshot must show.
PAGES = {
    "traffic-status": ('class="share"', (31, 119, 180)),
    "ha-status": ('class="timeline"', (44, 160, 44)),  # the primary has been MASTER: green
    "docsync-status": ('class="sync-events"', (44, 160, 44)),  # applied rounds: green bars
}


@unittest.skipUnless(browser.available(), "Debian's chromium is not installed")
class StatusPagesInABrowser(unittest.TestCase):
    def test_each_status_page_renders_its_chart(self):
        shots = tempfile.mkdtemp(prefix="suite-shots-")
        if os.environ.get("SUITE_KEEP_TMP") != "1":  # keep the screenshots to look at them
            self.addCleanup(shutil.rmtree, shots, True)
        with T.Topology() as topo:
            topo.start()
            self.assertTrue(topo.wait_for_holder("p", 10))
            self.assertTrue(topo.wait_for_sync(30))
            for _ in range(4):  # a few seconds of history for the charts
                topo.load(800)
                time.sleep(0.5)
            topo.edit_page("<h1>Welcome (version 2)</h1>\n")
            wait_until(lambda: topo.secondary_serves("version 2"), 10,
                       raise_on_timeout=False, ignore=(Exception,))
            for page, (marker, color) in PAGES.items():
                node = "s" if page == "docsync-status" else "p"
                proxy = topo.proxies[node]
                shot = os.path.join(shots, f"{page}.png")
                dom, console = browser.render(topo.lab.ns(node),
                                              f"http://127.0.0.1:{proxy.port}/{page}", shot)
                with self.subTest(page=page):
                    self.assertEqual(console, [], f"{page}: console messages")
                    self.assertIn("<svg", dom, page)
                    self.assertIn(marker, dom, page)
                    width, height, rows = browser.png_pixels(shot)
                    self.assertGreater(width * height, 0)
                    non_white = sum(1 for row in rows for px in row if px != (255, 255, 255))
                    self.assertGreater(non_white, 0.01 * width * height, f"{page} looks blank")
                    if color:
                        self.assertGreater(browser.color_count(rows, color, 30), 20,
                                           f"{page}: the chart's lines are not visible")


if __name__ == "__main__":
    unittest.main()
