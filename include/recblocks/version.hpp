#pragma once
/// \file version.hpp
/// Library version (also written into checkpoints).
#define RECBLOCKS_VERSION_MAJOR 0
#define RECBLOCKS_VERSION_MINOR 1
#define RECBLOCKS_VERSION_PATCH 0
