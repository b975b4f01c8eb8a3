#include "agent/spool/attempt_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hash/sha256.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

constexpr size_t kHeader = 5;  // u32 length + u8 stream
constexpr uint32_t kMaxRecord = 16u << 20;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(what + ": " + strerror(errno));
}

absl::Status PreadAll(int fd, char* buf, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, buf, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return absl::DataLossError("short read in log spool");
    buf += r;
    n -= r;
    off += r;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + tmp);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      close(fd);
      return Errno("write " + tmp);
    }
    done += w;
  }
  if (fdatasync(fd) != 0) {
    close(fd);
    return Errno("fsync " + tmp);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

AttemptJournal::~AttemptJournal() {
  absl::MutexLock lock(&mu_);
  if (spool_fd_ >= 0) close(spool_fd_);
}

absl::StatusOr<std::unique_ptr<AttemptJournal>> AttemptJournal::Create(const std::string& dir,
                                                                       const v1::Assign& assign) {
  std::error_code ec;
  if (fs::exists(dir)) return absl::AlreadyExistsError("attempt journal exists: " + dir);
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError("mkdir " + dir + ": " + ec.message());
  if (auto s = WriteFileAtomic(dir + "/assign.pb", assign.SerializeAsString()); !s.ok()) return s;
  return Open(dir);
}

absl::StatusOr<std::unique_ptr<AttemptJournal>> AttemptJournal::Open(const std::string& dir) {
  std::unique_ptr<AttemptJournal> j(new AttemptJournal(dir));
  auto assign = ReadFile(dir + "/assign.pb");
  if (!assign.ok()) return assign.status();
  if (!j->assign_.ParseFromString(*assign))
    return absl::DataLossError("corrupt " + dir + "/assign.pb");
  absl::MutexLock lock(&j->mu_);
  if (auto p = ReadFile(dir + "/process"); p.ok()) {
    std::istringstream in(*p);
    ProcessRecord rec;
    while (in >> rec.pgid >> rec.start_ticks) j->processes_.push_back(rec);
  }
  if (auto a = ReadFile(dir + "/acked"); a.ok()) {
    int64_t acked = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*a), &acked)) j->acked_ = acked;
  }
  if (auto r = ReadFile(dir + "/result.pb"); r.ok()) {
    v1::CompleteAttemptRequest res;
    if (res.ParseFromString(*r)) j->result_ = res;
  }
  if (auto s = j->LoadSpool(); !s.ok()) return s;
  j->acked_ = std::min<int64_t>(j->acked_, j->offsets_.size());
  return j;
}

absl::Status AttemptJournal::LoadSpool() {
  std::string path = dir_ + "/log.spool";
  spool_fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (spool_fd_ < 0) return Errno("open " + path);
  off_t size = lseek(spool_fd_, 0, SEEK_END);
  uint64_t off = 0;
  while (off + kHeader <= static_cast<uint64_t>(size)) {
    char hdr[kHeader];
    if (auto s = PreadAll(spool_fd_, hdr, kHeader, off); !s.ok()) return s;
    uint32_t len;
    memcpy(&len, hdr, 4);
    if (len > kMaxRecord || off + kHeader + len > static_cast<uint64_t>(size)) break;  // torn tail
    offsets_.push_back(off);
    off += kHeader + len;
  }
  if (off != static_cast<uint64_t>(size) && ftruncate(spool_fd_, off) != 0)
    return Errno("truncate spool");
  end_ = off;
  return absl::OkStatus();
}

absl::Status AttemptJournal::WriteProcesses() {
  std::string text;
  for (const auto& p : processes_) absl::StrAppend(&text, p.pgid, " ", p.start_ticks, "\n");
  return WriteFileAtomic(dir_ + "/process", text);
}

absl::Status AttemptJournal::AddProcess(const ProcessRecord& p) {
  absl::MutexLock lock(&mu_);
  processes_.push_back(p);
  return WriteProcesses();
}

absl::Status AttemptJournal::RemoveProcess(pid_t pgid) {
  absl::MutexLock lock(&mu_);
  processes_.erase(std::remove_if(processes_.begin(), processes_.end(),
                                  [&](const ProcessRecord& p) { return p.pgid == pgid; }),
                   processes_.end());
  return WriteProcesses();
}

std::vector<ProcessRecord> AttemptJournal::processes() const {
  absl::MutexLock lock(&mu_);
  return processes_;
}

absl::Status AttemptJournal::Noted(absl::Status s) {
  if (!s.ok() && write_error_.ok()) write_error_ = s;
  return s;
}

absl::Status AttemptJournal::WriteError() const {
  absl::MutexLock lock(&mu_);
  return write_error_;
}

absl::Status AttemptJournal::AddResult(const v1::RepetitionResult& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/results", ec);
  absl::MutexLock lock(&mu_);
  if (ec) return Noted(absl::InternalError("mkdir " + dir_ + "/results: " + ec.message()));
  return Noted(WriteFileAtomic(absl::StrCat(dir_, "/results/", r.repetition(), ".pb"),
                               r.SerializeAsString()));
}

absl::StatusOr<std::string> AttemptJournal::AddBlob(const std::string& bytes) {
  std::string sha = common::Sha256Hex(bytes);
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/blobs", ec);
  if (ec) {
    absl::MutexLock lock(&mu_);
    return Noted(absl::InternalError("mkdir " + dir_ + "/blobs: " + ec.message()));
  }
  if (std::filesystem::exists(BlobPath(sha), ec)) return sha;  // the same bytes again
  if (auto s = WriteFileAtomic(BlobPath(sha), bytes); !s.ok()) {
    absl::MutexLock lock(&mu_);
    return Noted(s);
  }
  return sha;
}

absl::StatusOr<std::vector<v1::RepetitionResult>> AttemptJournal::UnackedResults() const {
  std::vector<v1::RepetitionResult> out;
  absl::MutexLock lock(&mu_);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/results", ec)) {
    if (e.path().extension() != ".pb") continue;
    auto data = ReadFile(e.path().string());
    if (!data.ok()) return data.status();
    v1::RepetitionResult r;
    if (!r.ParseFromString(*data)) return absl::DataLossError("corrupt " + e.path().string());
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.repetition() < b.repetition(); });
  return out;
}

absl::Status AttemptJournal::AckResults(const std::vector<int>& repetitions) {
  absl::MutexLock lock(&mu_);
  for (int rep : repetitions) {
    std::string from = absl::StrCat(dir_, "/results/", rep, ".pb");
    std::string to = absl::StrCat(dir_, "/results/", rep, ".acked");
    if (rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return Errno("rename " + from);
  }
  return absl::OkStatus();
}

int AttemptJournal::result_count() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/results", ec)) {
    (void)e;
    ++n;
  }
  return n;
}

absl::StatusOr<int64_t> AttemptJournal::AppendLog(v1::LogStream stream, const std::string& data) {
  if (data.size() > kMaxRecord) return absl::InvalidArgumentError("log chunk too large");
  absl::MutexLock lock(&mu_);
  std::string rec(kHeader, '\0');
  uint32_t len = data.size();
  memcpy(rec.data(), &len, 4);
  rec[4] = static_cast<char>(stream);
  rec += data;
  size_t done = 0;
  while (done < rec.size()) {
    ssize_t w = pwrite(spool_fd_, rec.data() + done, rec.size() - done, end_ + done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Noted(Errno("append to log spool"));  // the next append overwrites it
    done += w;
  }
  if (fdatasync(spool_fd_) != 0) return Noted(Errno("fsync log spool"));
  offsets_.push_back(end_);
  end_ += rec.size();
  return static_cast<int64_t>(offsets_.size() - 1);
}

int64_t AttemptJournal::chunk_count() const {
  absl::MutexLock lock(&mu_);
  return offsets_.size();
}

int64_t AttemptJournal::acked() const {
  absl::MutexLock lock(&mu_);
  return acked_;
}

absl::StatusOr<std::vector<v1::LogChunk>> AttemptJournal::Unacked(size_t max_bytes,
                                                                  size_t max_chunks) const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::LogChunk> out;
  size_t bytes = 0;
  for (int64_t i = acked_; i < static_cast<int64_t>(offsets_.size()); ++i) {
    uint64_t start = offsets_[i];
    uint64_t stop = i + 1 < static_cast<int64_t>(offsets_.size()) ? offsets_[i + 1] : end_;
    size_t len = stop - start - kHeader;
    if (!out.empty() && (bytes + len > max_bytes || out.size() >= max_chunks)) break;
    std::string buf(stop - start, '\0');
    if (auto s = PreadAll(spool_fd_, buf.data(), buf.size(), start); !s.ok()) return s;
    v1::LogChunk c;
    c.set_seq(i);
    c.set_stream(static_cast<v1::LogStream>(static_cast<unsigned char>(buf[4])));
    c.set_data(buf.substr(kHeader));
    bytes += len;
    out.push_back(std::move(c));
  }
  return out;
}

absl::Status AttemptJournal::Ack(int64_t upto) {
  absl::MutexLock lock(&mu_);
  if (upto <= acked_) return absl::OkStatus();
  acked_ = std::min<int64_t>(upto, offsets_.size());
  return WriteFileAtomic(dir_ + "/acked", absl::StrCat(acked_, "\n"));
}

absl::Status AttemptJournal::Finish(const v1::CompleteAttemptRequest& result) {
  absl::MutexLock lock(&mu_);
  if (result_) return absl::OkStatus();
  v1::CompleteAttemptRequest r = result;
  r.set_log_chunks(offsets_.size());
  result_ = r;  // the uploader ends the attempt even if the file cannot be written
  return WriteFileAtomic(dir_ + "/result.pb", r.SerializeAsString());
}

std::optional<v1::CompleteAttemptRequest> AttemptJournal::result() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

absl::Status AttemptJournal::Remove() {
  absl::MutexLock lock(&mu_);
  if (spool_fd_ >= 0) close(spool_fd_);
  spool_fd_ = -1;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) return absl::InternalError("remove " + dir_ + ": " + ec.message());
  return absl::OkStatus();
}

}  // namespace perfgate::agent
