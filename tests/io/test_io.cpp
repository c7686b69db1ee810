#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/io.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

cv::Mat numbered_frame(int i, cv::Size size = {160, 120}) {
  cv::Mat m(size, CV_8UC3, cv::Scalar(30 + i, 60, 90));
  cv::putText(m, std::to_string(i), {20, 80}, cv::FONT_HERSHEY_SIMPLEX, 2.0,
              cv::Scalar(255, 255, 255), 3);
  return m;
}

fs::path write_test_video(const fs::path& path, int frames, double fps = 12.5) {
  cv::VideoWriter w(path.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                    {160, 120});
  EXPECT_TRUE(w.isOpened());
  for (int i = 0; i < frames; ++i) w.write(numbered_frame(i));
  w.release();
  return path;
}

struct Drained {
  int frames = 0, corrupt = 0, errors = 0;
};

Drained drain(FrameSource& src, int limit = 10000) {
  Drained d;
  Frame f;
  std::string msg;
  for (int i = 0; i < limit; ++i) {
    ReadStatus st = src.read(f, msg);
    if (st == ReadStatus::kEnd) break;
    if (st == ReadStatus::kFrame) ++d.frames;
    if (st == ReadStatus::kCorrupt) ++d.corrupt;
    if (st == ReadStatus::kError) {
      ++d.errors;
      break;
    }
  }
  return d;
}

TEST(Io, VideoRoundTripKeepsSizeFpsAndCount) {
  const fs::path dir = test::temp_dir("io_video");
  write_test_video(dir / "in.avi", 20);
  auto src = open_source((dir / "in.avi").string());
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_EQ((*src)->info().kind, SourceKind::kVideo);
  EXPECT_NEAR((*src)->info().fps, 12.5, 0.01);
  EXPECT_EQ((*src)->info().size, cv::Size(160, 120));
  auto sink = open_sink(dir / "out.avi", (*src)->info());
  ASSERT_TRUE(sink.ok()) << sink.error();
  Frame f;
  std::string msg;
  while ((*src)->read(f, msg) == ReadStatus::kFrame) ASSERT_TRUE((*sink)->write(f).ok());
  (*sink)->close();
  EXPECT_EQ((*sink)->frames_written(), 20);
  cv::VideoCapture check((dir / "out.avi").string());
  EXPECT_EQ(static_cast<int>(check.get(cv::CAP_PROP_FRAME_COUNT)), 20);
  EXPECT_NEAR(check.get(cv::CAP_PROP_FPS), 12.5, 0.01);
  EXPECT_EQ(static_cast<int>(check.get(cv::CAP_PROP_FRAME_WIDTH)), 160);
}

// MJPG outputs (libjpeg-turbo frames muxed by libavformat): every frame decodes, in order, close
// to what was written, at the input's rate, in AVI and in Matroska; a closed sink refuses frames.
TEST(Io, MjpegVideoFramesDecodeInOrderAtTheirRate) {
  const fs::path dir = test::temp_dir("io_mjpeg");
  for (const char* name : {"out.avi", "out.mkv"}) {
    SCOPED_TRACE(name);
    SourceInfo info;
    info.kind = SourceKind::kVideo;
    info.fps = 30000.0 / 1001;
    info.size = {160, 120};
    auto sink = open_sink(dir / name, info);
    ASSERT_TRUE(sink.ok()) << sink.error();
    for (int i = 0; i < 24; ++i) {
      Frame f;
      f.image = numbered_frame(i * 7);
      ASSERT_TRUE((*sink)->write(f).ok()) << i;
    }
    EXPECT_TRUE((*sink)->close().ok());
    EXPECT_EQ((*sink)->frames_written(), 24);
    Frame late;
    late.image = numbered_frame(0);
    EXPECT_FALSE((*sink)->write(late).ok());
    cv::VideoCapture check((dir / name).string(), cv::CAP_FFMPEG);
    ASSERT_TRUE(check.isOpened());
    EXPECT_NEAR(check.get(cv::CAP_PROP_FPS), 30000.0 / 1001, 0.01);
    cv::Mat got;
    int n = 0;
    while (check.read(got)) {
      ASSERT_LT(n, 24);
      ASSERT_EQ(got.size(), cv::Size(160, 120));
      // The frame it should be scores far better than its neighbours would.
      EXPECT_GT(cv::PSNR(got, numbered_frame(n * 7)), 30.0) << n;
      if (n > 0) {
        EXPECT_LT(cv::PSNR(got, numbered_frame((n - 1) * 7)), 30.0) << n;
      }
      ++n;
    }
    EXPECT_EQ(n, 24);
  }
}

// MJPG into containers that cannot hold it is refused at the first frame; a full disk (/dev/full)
// fails the first frame in AVI and in Matroska (whose muxer buffers clusters), with 0 written.
TEST(Io, MjpegVideoRefusesWrongContainersAndFullDisks) {
  const fs::path dir = test::temp_dir("io_mjpeg_faults");
  SourceInfo info;
  info.kind = SourceKind::kVideo;
  info.fps = 25;
  info.size = {160, 120};
  Frame f;
  f.image = numbered_frame(1);
  for (const char* name : {"out.ts", "out.mpg"}) {
    auto sink = open_sink(dir / name, info);
    ASSERT_TRUE(sink.ok()) << sink.error();
    const Status s = (*sink)->write(f);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_NE(s.message().find("cannot hold MJPEG"), std::string::npos) << s.message();
  }
  for (const char* name : {"full.avi", "full.mkv"}) {
    fs::create_symlink("/dev/full", dir / name);
    auto sink = open_sink(dir / name, info);
    ASSERT_TRUE(sink.ok()) << sink.error();
    const Status s = (*sink)->write(f);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_NE(s.message().find("No space left"), std::string::npos) << s.message();
    EXPECT_FALSE((*sink)->close().ok()) << name;
    EXPECT_EQ((*sink)->frames_written(), 0) << name;
  }
}

TEST(Io, CorruptedVideoBytesNeverCrash) {
  const fs::path dir = test::temp_dir("io_corrupt");
  write_test_video(dir / "in.avi", 30);
  // Overwrite a stretch in the middle of the file with garbage.
  const auto size = fs::file_size(dir / "in.avi");
  {
    std::fstream f(dir / "in.avi", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    for (int i = 0; i < 4000; ++i) f.put(static_cast<char>((i * 131) & 0xff));
  }
  auto src = open_source((dir / "in.avi").string());
  ASSERT_TRUE(src.ok()) << src.error();
  Drained d = drain(**src);
  EXPECT_EQ(d.errors, 0);
  EXPECT_GT(d.frames, 5);
  EXPECT_LE(d.frames + d.corrupt, 31);
}

TEST(Io, TruncatedVideoEndsCleanly) {
  const fs::path dir = test::temp_dir("io_trunc");
  write_test_video(dir / "in.avi", 30);
  fs::resize_file(dir / "in.avi", fs::file_size(dir / "in.avi") * 6 / 10);
  auto src = open_source((dir / "in.avi").string());
  ASSERT_TRUE(src.ok()) << src.error();
  Drained d = drain(**src);
  EXPECT_EQ(d.errors, 0);
  EXPECT_GT(d.frames, 5);
  EXPECT_LT(d.frames, 30);
}

TEST(Io, GarbageFileIsARefusedSourceNotACrash) {
  const fs::path dir = test::temp_dir("io_garbage");
  std::ofstream(dir / "x.mp4") << "this is not a video";
  auto src = open_source((dir / "x.mp4").string());
  if (src.ok()) {
    Drained d = drain(**src);
    EXPECT_EQ(d.frames, 0);
  } else {
    EXPECT_NE(src.error().find("x.mp4"), std::string::npos);
  }
  auto missing = open_source((dir / "nope.avi").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("nope.avi"), std::string::npos);
}

TEST(Io, FolderKeepsRelativeNamesAndCountsUnreadableFiles) {
  const fs::path dir = test::temp_dir("io_folder");
  fs::create_directories(dir / "in" / "sub");
  cv::imwrite((dir / "in" / "a.jpg").string(), numbered_frame(1));
  cv::imwrite((dir / "in" / "sub" / "b.png").string(), numbered_frame(2));
  std::ofstream(dir / "in" / "broken.jpg") << "not a jpeg";
  std::ofstream(dir / "in" / "notes.txt") << "ignored";
  auto src = open_source((dir / "in").string());
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_EQ((*src)->info().kind, SourceKind::kFolder);
  auto sink = open_sink(dir / "out", (*src)->info());
  ASSERT_TRUE(sink.ok()) << sink.error();
  Frame f;
  std::string msg;
  int frames = 0, corrupt = 0;
  for (;;) {
    ReadStatus st = (*src)->read(f, msg);
    if (st == ReadStatus::kEnd) break;
    if (st == ReadStatus::kCorrupt) {
      ++corrupt;
      EXPECT_NE(msg.find("broken.jpg"), std::string::npos);
      continue;
    }
    ASSERT_EQ(st, ReadStatus::kFrame);
    ++frames;
    ASSERT_TRUE((*sink)->write(f).ok());
  }
  EXPECT_EQ(frames, 2);
  EXPECT_EQ(corrupt, 1);
  EXPECT_TRUE(fs::exists(dir / "out" / "a.jpg"));
  EXPECT_TRUE(fs::exists(dir / "out" / "sub" / "b.png"));
  EXPECT_FALSE(fs::exists(dir / "out" / "broken.jpg"));
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Regression: a folder of symlinks used to give names like "../orig/a.jpg" (fs::relative
// follows links), so the anonymized image replaced the original behind the link.
TEST(Io, SymlinkedInputsAreWrittenUnderOutputAndOriginalsStayUntouched) {
  const fs::path dir = test::temp_dir("io_symlinks");
  fs::create_directories(dir / "orig");
  fs::create_directories(dir / "in" / "sub");
  cv::imwrite((dir / "orig" / "a.png").string(), numbered_frame(1));
  cv::imwrite((dir / "orig" / "b.png").string(), numbered_frame(2));
  fs::create_symlink(dir / "orig" / "a.png", dir / "in" / "a.png");
  fs::create_symlink("../../orig/b.png", dir / "in" / "sub" / "b.png");  // relative link
  const std::string a_before = file_bytes(dir / "orig" / "a.png");
  const std::string b_before = file_bytes(dir / "orig" / "b.png");

  auto src = open_source((dir / "in").string());
  ASSERT_TRUE(src.ok()) << src.error();
  auto sink = open_sink(dir / "out", (*src)->info());
  ASSERT_TRUE(sink.ok()) << sink.error();
  Frame f;
  std::string msg;
  std::vector<std::string> names;
  while ((*src)->read(f, msg) == ReadStatus::kFrame) {
    names.push_back(f.name.string());
    f.image.setTo(cv::Scalar::all(0));  // what an anonymizer would do, in the extreme
    ASSERT_TRUE((*sink)->write(f).ok());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a.png", "sub/b.png"}));
  EXPECT_TRUE(fs::is_regular_file(dir / "out" / "a.png"));
  EXPECT_TRUE(fs::is_regular_file(dir / "out" / "sub" / "b.png"));
  EXPECT_EQ(file_bytes(dir / "orig" / "a.png"), a_before);
  EXPECT_EQ(file_bytes(dir / "orig" / "b.png"), b_before);
}

TEST(Io, ImageSinkRefusesToEscapeOutputOrOverwriteTheInput) {
  const fs::path dir = test::temp_dir("io_sink_guard");
  fs::create_directories(dir / "in");
  cv::imwrite((dir / "in" / "a.png").string(), numbered_frame(1));
  const std::string before = file_bytes(dir / "in" / "a.png");
  SourceInfo folder;
  folder.kind = SourceKind::kFolder;
  folder.uri = (dir / "in").string();
  Frame f;
  f.image = numbered_frame(9);

  auto out = open_sink(dir / "out", folder);
  ASSERT_TRUE(out.ok()) << out.error();
  f.name = "../escaped.png";
  auto st = (*out)->write(f);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("outside"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dir / "escaped.png"));
  f.name = (dir / "abs.png").string();
  EXPECT_FALSE((*out)->write(f).ok());

  // OUTPUT = the input folder, or a folder inside it (in/b/a.png would replace another input
  // image of that name): refused before anything is written.
  for (const fs::path& inside : {dir / "in", dir / "in" / "b", dir / "in" / ".." / "in" / "c"}) {
    auto same = open_sink(inside, folder);
    ASSERT_FALSE(same.ok()) << inside;
    EXPECT_NE(same.error().find("inside the input folder"), std::string::npos) << same.error();
  }
  // A subfolder of OUTPUT that links into the input: the write is refused.
  fs::create_directories(dir / "in" / "sub");
  cv::imwrite((dir / "in" / "sub" / "s.png").string(), numbered_frame(3));
  const std::string sub_before = file_bytes(dir / "in" / "sub" / "s.png");
  fs::create_symlink(dir / "in" / "sub", dir / "out" / "sub");
  f.name = "sub/s2.png";
  st = (*out)->write(f);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("inside the input folder"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dir / "in" / "sub" / "s2.png"));
  EXPECT_EQ(file_bytes(dir / "in" / "sub" / "s.png"), sub_before);
  EXPECT_EQ(file_bytes(dir / "in" / "a.png"), before);
  f.name = "a.png";

  // A single image onto itself.
  SourceInfo image;
  image.kind = SourceKind::kImage;
  image.uri = (dir / "in").string();
  auto self = open_sink(dir / "in" / "a.png", image);
  ASSERT_TRUE(self.ok()) << self.error();
  EXPECT_FALSE((*self)->write(f).ok());
  EXPECT_EQ(file_bytes(dir / "in" / "a.png"), before);

  // A video onto itself is refused when the sink is opened.
  SourceInfo video;
  video.kind = SourceKind::kVideo;
  video.uri = (dir / "clip.avi").string();
  std::ofstream(dir / "clip.avi") << "x";
  EXPECT_FALSE(open_sink(dir / "clip.avi", video).ok());
}

TEST(Io, SinkKindMustMatchInput) {
  SourceInfo video;
  video.kind = SourceKind::kVideo;
  EXPECT_FALSE(open_sink("/tmp/out.jpg", video).ok());
  SourceInfo image;
  image.kind = SourceKind::kImage;
  EXPECT_FALSE(open_sink("/tmp/out.avi", image).ok());
}

}  // namespace
}  // namespace ev
