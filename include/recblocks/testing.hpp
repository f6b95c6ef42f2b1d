#pragma once
/// \file testing.hpp
/// Public test helpers.
#include "testing/gradcheck.hpp"
