// A small model trained on the LPS time course as a user would (tokenise ->
// pretrain -> mask stage -> count stage), once per test program: the
// fixture of the command-line tests of everything that needs a trained model
// (generate, perturb, atlas, embed).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>

#include "test_support.h"

namespace pg::test {

struct TrainedModel {
  std::filesystem::path dir, store, model, mask_model;
};

inline const TrainedModel& trained_lps_model() {
  static const TrainedModel f = [] {
    TrainedModel x;
    // Its own folder, named after the test that first needs it (ctest runs
    // every test as its own process, two at a time); temp_dir() would wipe it.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    x.dir = std::filesystem::path(PG_TEST_TMP) /
            ("trained_lps_model." + std::string(info->test_suite_name()) + "." + info->name());
    std::filesystem::remove_all(x.dir);
    std::filesystem::create_directories(x.dir);
    x.store = x.dir / "store";
    auto r = pg::test::run_cli(
        "tokenise " + pg::test::quote(pg::test::dataset("lps_bmdc_timecourse")) + " -o " +
        pg::test::quote(x.store) +
        " --time-key grouping --time-order 'LPS#1h,LPS#2h,LPS#4h,LPS#6h' --vocab dataset --genes hvg"
        " --n-hvg 300 --obs-keys replicate_batch --seed 7");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = pg::test::run_cli(
        "pretrain --store " + pg::test::quote(x.store) + " -o " + pg::test::quote(x.dir / "encoder") +
        " --d-model 32 --layers 1 --heads 2 --head-dim 16 --max-length 128 --max-steps 3 --batch-size 16"
        " --lr 1e-3 --progress none");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    x.mask_model = x.dir / "mask";
    r = pg::test::run_cli(
        "train --stage mask --store " + pg::test::quote(x.store) + " --encoder " +
        pg::test::quote(x.dir / "encoder") + " -o " + pg::test::quote(x.mask_model) +
        " --layers 1 --heads 2 --head-dim 8 --max-length 64 --batch-size 8 --max-steps 6 --lr 1e-3"
        " --progress none");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    x.model = x.dir / "model";
    r = pg::test::run_cli("train --stage count --store " + pg::test::quote(x.store) + " --from " +
                          pg::test::quote(x.mask_model) + " -o " + pg::test::quote(x.model) +
                          " --batch-size 8 --max-steps 4 --lr 1e-3 --progress none");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return x;
  }();
  return f;
}

}  // namespace pg::test
