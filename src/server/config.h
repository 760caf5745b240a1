// The server's configuration: every command-line flag, parsed and validated once at start-up.
// Objects are only ever built from a Config that ParseCommandLine() accepted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/item.h"

namespace ssdcache::server {

struct Config {
  // Network
  uint16_t port = 11211;                  // -p/--port (0 = let the kernel pick; logged)
  std::string listen_addr = "127.0.0.1";  // -a/--addr, alias -l/--listen
  uint32_t max_connections = 1024;        // -c/--max-connections
  uint32_t idle_timeout_s = 0;            // --idle-timeout SECONDS (0 = off)

  // Device
  std::string device_path = "./data/ssdcache.dat";  // -D/--device
  uint64_t device_size = 1ULL << 30;                // --device-size SIZE (regular files only)
  uint32_t server_id = 0;                           // -s/--server-id I/N: I (0-based)
  uint32_t server_count = 1;                        //                      N

  // Memory and slabs
  uint64_t max_memory = 64ULL << 20;        // -m/--max-memory MiB: DRAM for memory slabs (bytes)
  uint32_t slab_size = 1U << 20;            // -I/--slab-size MiB (bytes here)
  double factor = 1.25;                     // -f/--factor
  uint32_t min_item_size = 56;              // -n/--min-item-size bytes (item header + key + value)
  std::vector<uint32_t> slab_profile;       // -z/--slab-profile "s1,s2,..." explicit chunk sizes
  uint64_t max_index_memory = 64ULL << 20;  // -i/--max-index-memory MiB (bytes here)
  uint32_t hash_power = 0;                  // -e/--hash-power (accepted; 0 = derive from -i)
  uint32_t max_aio = 1024;                  // --max-aio: IOs in flight at once
  uint64_t journal_size = 4ULL << 20;       // --journal-size SIZE: crash journal (0 = none)
  // --journal-sync process|device: journal entries survive the process (page cache) or the
  // machine (written to the device before the reply)
  storage::JournalSync journal_sync = storage::JournalSync::kProcess;

  // Process
  int verbosity = 0;       // -v/--verbose, repeatable
  std::string log_file;    // -o/--log-file ("" = stderr)
  bool daemonize = false;  // -d/--daemonize
  std::string pid_file;    // -P/--pid-file
  bool format = false;     // --format: wipe a device that holds another format
  std::string user;        // -u/--user: drop root privileges to this user after set-up
};

enum class ParseResult {
  kRun,   // start the server with the parsed config
  kExit,  // --help or --version was printed: exit 0
  kError  // `error` holds a one-line message naming the flag: exit 2
};

// Parses argv into `config` (starting from its defaults) and validates every value and their
// combination. Sizes accept K/M/G suffixes where bytes are meant; MiB flags take a plain number.
// Help and version text go to `out`.
ParseResult ParseCommandLine(int argc, const char* const* argv, Config& config, std::string& out,
                             std::string& error);

// "process" or "device", as --journal-sync and `stats settings` spell it.
const char* JournalSyncName(storage::JournalSync sync);

}  // namespace ssdcache::server
