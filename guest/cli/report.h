#pragma once
// Rendering detect/plan results as JSON (the fixed interface) and as text for operators.

#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "guestdump/guest/plan.h"
#include "guestdump/guest/system_info.h"

namespace guestdump::guest {

nlohmann::json system_info_json(const SystemInfo& info);
std::string system_info_text(const SystemInfo& info);
nlohmann::json plan_json(const Plan& plan);
std::string plan_text(const Plan& plan);

/// --root, --cpuid-signature and --dump-target, shared by detect, plan, apply and load.
void add_detect_options(boost::program_options::options_description& desc);
DetectOptions detect_options_from(const boost::program_options::variables_map& vm);
/// --hyperv-blacklist auto|always|never; false (after printing) for another value.
bool blacklist_mode_from(const boost::program_options::variables_map& vm, BlacklistMode& mode);

} // namespace guestdump::guest
