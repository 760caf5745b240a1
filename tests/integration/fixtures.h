// Test fixtures shared by the integration tests.
#pragma once

#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {

// One server shared by all tests of a suite, for tests whose state cannot interfere (each uses
// keys prefixed with its own name via Key()). Never use flush_all, stats deltas or anything global
// from such a test: give it its own ServerProcess instead.
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<ServerProcess>();
    auto started = server_->Start();
    start_error_ = started ? "" : started.message();
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    ASSERT_TRUE(server_->running()) << "the shared server died; log:\n" << server_->LogTail();
    ASSERT_TRUE(client_.Connect(server_->port()));
  }

  void TearDown() override {
    if (HasFailure() && start_error_.empty() && server_ != nullptr && !server_->running()) {
      ADD_FAILURE() << "the shared server died during the test; log:\n" << server_->LogTail();
    }
  }

  // "<TestName>.<name>": a key no other test uses.
  static std::string Key(std::string_view name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->name()) + "." + std::string(name);
  }

  // A second connection to the shared server.
  Client Connect() {
    Client c;
    EXPECT_TRUE(c.Connect(server_->port()));
    return c;
  }

  static int port() { return server_->port(); }

  static inline std::unique_ptr<ServerProcess> server_;
  static inline std::string start_error_;
  Client client_;
};

// A fresh server for each test (for flush_all, stats deltas, restarts, ...).
class OwnServerTest : public ::testing::Test {
 protected:
  // Override to change the server's options before it starts.
  virtual ServerOptions Options() { return {}; }

  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(Options());
    ASSERT_TRUE(server_->Start());
    ASSERT_TRUE(client_.Connect(server_->port()));
  }

  void TearDown() override {
    client_.Close();
    if (HasFailure() && server_ != nullptr) {
      std::string log = server_->LogTail(2000);
      if (!log.empty()) std::cerr << "--- server log tail ---\n" << log << "\n";
    }
    server_.reset();
  }

  Client Connect() {
    Client c;
    EXPECT_TRUE(c.Connect(server_->port()));
    return c;
  }

  std::unique_ptr<ServerProcess> server_;
  Client client_;
};

}  // namespace ssdcache::integration
