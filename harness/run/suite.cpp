#include "run/suite.h"

#include <atomic>
#include <mutex>
#include <thread>

namespace bpfault::run {

RunRecord load_error_record(const std::filesystem::path& file, const Error& e) {
  RunRecord r;
  r.file = file.string();
  r.name = file.stem().string();
  r.status = Status::error;
  r.error = e;
  return r;
}

std::vector<RunRecord> run_suite(const std::vector<std::filesystem::path>& files, const Options& o, int jobs,
                                 const std::function<void(const RunRecord&)>& on_done) {
  std::vector<RunRecord> records(files.size());
  std::atomic<size_t> next{0};
  std::mutex report;
  auto worker = [&] {
    for (size_t i; (i = next++) < files.size();) {
      auto s = scenario::load(files[i]);
      records[i] = s ? execute(*s, o) : load_error_record(files[i], s.error());
      std::lock_guard lock(report);
      if (on_done) on_done(records[i]);
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < std::max(1, jobs) && static_cast<size_t>(j) < files.size(); ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return records;
}

}  // namespace bpfault::run
