#include "ha_config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "boot_epoch.h"

using namespace ha_heartbeat;

TEST_CASE("endpoints parse with and without ports, IPv4 and IPv6") {
    auto a = parse_endpoint("10.231.0.1:7000", kDefaultPort);
    REQUIRE(a);
    CHECK(a.value->address.family == AF_INET);
    CHECK(a.value->port == 7000);
    CHECK(a.value->text() == "10.231.0.1:7000");
    auto b = parse_endpoint("10.231.0.1", kDefaultPort);
    REQUIRE(b);
    CHECK(b.value->port == 694);
    auto c = parse_endpoint("[fd00::1]:695", kDefaultPort);
    REQUIRE(c);
    CHECK(c.value->address.family == AF_INET6);
    CHECK(c.value->port == 695);
    auto d = parse_endpoint("fd00::2", kDefaultPort);
    REQUIRE(d);
    CHECK(d.value->port == 694);
    CHECK_FALSE(parse_endpoint("10.0.0.1:0", kDefaultPort));
    CHECK_FALSE(parse_endpoint("10.0.0.1:70000", kDefaultPort));
    CHECK_FALSE(parse_endpoint("host.example:1", kDefaultPort));
    CHECK_FALSE(parse_endpoint("[fd00::1", kDefaultPort));
}

TEST_CASE("service addresses need a prefix length in range and an interface") {
    auto v4 = parse_service_address("10.231.0.100/24", "eth0");
    REQUIRE(v4);
    CHECK(v4.value->text() == "10.231.0.100/24");
    REQUIRE(parse_service_address("fd00::100/64", "eth0"));
    CHECK_FALSE(parse_service_address("10.231.0.100", "eth0"));
    CHECK_FALSE(parse_service_address("10.231.0.100/33", "eth0"));
    CHECK_FALSE(parse_service_address("fd00::1/129", "eth0"));
    CHECK_FALSE(parse_service_address("10.231.0.100/24", "an-interface-name-too-long"));
}

TEST_CASE("the secret file is refused when missing, empty or readable by others") {
    char dir[] = "/tmp/ha-secret-XXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/key";
    CHECK_FALSE(read_secret_file(path));
    { std::ofstream(path) << ""; }
    chmod(path.c_str(), 0600);
    CHECK(read_secret_file(path).error.find("empty") != std::string::npos);
    { std::ofstream(path) << "s3cret-s3cret-16\n"; }
    chmod(path.c_str(), 0644);
    CHECK(read_secret_file(path).error.find("others") != std::string::npos);
    chmod(path.c_str(), 0600);
    auto ok = read_secret_file(path);
    REQUIRE(ok);
    CHECK(ok.value->bytes() == "s3cret-s3cret-16");
    // 15 bytes (the newline is not part of the key): too short to be a key.
    { std::ofstream(path) << "s3cret-s3cret-1\n"; }
    auto short_key = read_secret_file(path);
    CHECK_FALSE(short_key);
    CHECK(short_key.error.find("at least 16") != std::string::npos);
    unlink(path.c_str());
    rmdir(dir);
}

TEST_CASE("the boot epoch grows at every start and never goes below the wall clock") {
    char dir[] = "/tmp/ha-epoch-XXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/epoch";
    auto first = next_boot_epoch(path, 1000);
    REQUIRE(first);
    CHECK(*first.value == 1000);
    auto second = next_boot_epoch(path, 1000);
    REQUIRE(second);
    CHECK(*second.value == 1001);
    auto later = next_boot_epoch(path, 5000);
    CHECK(*later.value == 5000);
    unlink(path.c_str());
    rmdir(dir);
}

TEST_CASE("the boot epoch stays above the stored one when the clock is behind") {
    char dir[] = "/tmp/ha-epoch-XXXXXX";
    REQUIRE(mkdtemp(dir));
    // A node that rebooted with its clock far behind the last run's: the epoch still grows.
    const std::string path = std::string(dir) + "/state/epoch";  // the directory is created
    REQUIRE(next_boot_epoch(path, 2000000000));
    auto behind = next_boot_epoch(path, 1000);
    REQUIRE(behind);
    CHECK(*behind.value == 2000000001);
    struct stat st {};
    REQUIRE(stat((std::string(dir) + "/state").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    // A file that is not a number is refused rather than read as 0 (which would go backwards).
    { std::ofstream(path) << "garbage\n"; }
    CHECK_FALSE(next_boot_epoch(path, 1000));
    // A link planted at the temporary name is not followed: nothing is written through it,
    // and the epoch is stored in a file of its own.
    { std::ofstream(path) << "5\n"; }
    const std::string victim = std::string(dir) + "/victim";
    { std::ofstream(victim) << "keep\n"; }
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    REQUIRE(symlink(victim.c_str(), tmp.c_str()) == 0);
    auto planted = next_boot_epoch(path, 1000);
    REQUIRE(planted);
    CHECK(*planted.value == 1000);
    std::ifstream v(victim);
    std::string kept;
    v >> kept;
    CHECK(kept == "keep");
    struct stat link_st {};
    CHECK(lstat(path.c_str(), &link_st) == 0);
    CHECK(S_ISREG(link_st.st_mode));
    CHECK(lstat(tmp.c_str(), &link_st) != 0);  // no temporary left behind
    unlink(victim.c_str());
    unlink(path.c_str());
    rmdir((std::string(dir) + "/state").c_str());
    rmdir(dir);
}

TEST_CASE("HAUser must be a system user other than root") {
    HaConfig c;
    CHECK(c.user == std::string(kDefaultHaUser));
    c.user = "no-such-user-for-ha-tests";
    const std::string missing = resolve_user(&c);
    CHECK(missing.rfind("HAUser", 0) == 0);
    CHECK(missing.find("adduser") != std::string::npos);
    CHECK_FALSE(c.user_resolved);
    c.user = "root";
    CHECK(resolve_user(&c).rfind("HAUser", 0) == 0);
    c.user = "nobody";
    CHECK(resolve_user(&c).empty());
    CHECK(c.user_resolved);
    CHECK(c.user_id != 0);
}

TEST_CASE("validation names the directive that is missing or inconsistent") {
    HaConfig c;
    c.enabled = true;
    CHECK(validate(c).rfind("HANodeName", 0) == 0);
    c.node_name = "a";
    CHECK(validate(c).rfind("HAListen", 0) == 0);
    c.listen = *parse_endpoint("10.231.0.1", kDefaultPort).value;
    c.listen_set = true;
    CHECK(validate(c).rfind("HAPeer", 0) == 0);
    c.peers.push_back(*parse_endpoint("fd00::2", kDefaultPort).value);
    CHECK(validate(c).rfind("HAPeer", 0) == 0);  // address family mismatch
    c.peers[0] = *parse_endpoint("10.231.0.2", kDefaultPort).value;
    CHECK(validate(c).rfind("HASecretFile", 0) == 0);
    c.secret_file = "/etc/apache2/ha.key";
    CHECK(validate(c).rfind("HAServiceAddress", 0) == 0);
    c.service_addresses.push_back(*parse_service_address("10.231.0.100/24", "eth0").value);
    c.epoch_file = "/tmp/x";
    CHECK(validate(c).empty());
    c.dead_interval = c.interval;
    CHECK(validate(c).rfind("HADeadInterval", 0) == 0);
}

TEST_CASE("node ids are stable hashes of the node name and never zero") {
    CHECK(node_id_for("alpha") == node_id_for("alpha"));
    CHECK(node_id_for("alpha") != node_id_for("beta"));
    CHECK(node_id_for("") != 0);
}
