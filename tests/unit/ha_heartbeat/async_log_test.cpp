// The heartbeat process's log writer thread (no httpd header; real threads and clock).
#include "../../../modules/mod_ha_heartbeat/os/async_log.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace ha_heartbeat;

TEST_CASE("a log line written long after its event says how late it is") {
    std::mutex m;
    std::vector<std::string> written;
    {
        AsyncLog log([&](int, const std::string& line) {
            // The first line holds the writer for 300 ms, so the second, queued meanwhile, is
            // written at least 300 ms after its event (the note starts at 100 ms).
            if (line.rfind("first", 0) == 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
            std::lock_guard<std::mutex> lock(m);
            written.push_back(line);
        });
        log.push(kLogNotice, "first");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the writer has taken it
        log.push(kLogNotice, "second");
    }  // the destructor writes what is queued
    REQUIRE(written.size() == 2);
    CHECK(written[1].rfind("second (logged ", 0) == 0);
    CHECK(written[1].find(" ms after the event)") != std::string::npos);
}
