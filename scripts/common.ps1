# Shared by the Windows entry points (build.ps1, test.ps1, bench.ps1), dot-sourced:
# paths, messages, the arguments every script answers, and finding what must be
# installed (CMake, a compiler, Python with matplotlib and pytest), each with what
# to do when it is missing. Works in Windows PowerShell 5.1 and PowerShell 7.
#
# Errors are checked by hand, with $LASTEXITCODE after each program: in Windows
# PowerShell 5.1, $ErrorActionPreference = 'Stop' (which GitHub's runner sets)
# would turn a program's mere output on stderr into a terminating error.
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Continue'

$Root = Split-Path -Parent $PSScriptRoot
$MinimumCMake = [version]'3.21'
$MinimumPython = [version]'3.11'
# Visual Studio 2022 (the "Visual Studio 17 2022" generator of the windows preset),
# 17.5 or later for the C11 atomics of loadgen (/experimental:c11atomics).
$VisualStudioVersions = '[17.5,18.0)'
$VisualStudioCppTools = 'Microsoft.VisualStudio.Component.VC.Tools.x86.x64'

function Write-Step([string] $Message) {
    Write-Host "== $Message"
}

# One line on stderr, then the script ends with that exit code (2: bad usage).
function Stop-Script([string] $Message, [int] $Code = 1) {
    [Console]::Error.WriteLine("error: $Message")
    exit $Code
}

function Stop-BadUsage([string] $Script, [string] $Argument) {
    [Console]::Error.WriteLine("${Script}: unknown option '$Argument' (see --help)")
    exit 2
}

# (-? never arrives: PowerShell answers it with the script's comment-based help.)
function Test-HelpArgument([string] $Argument) {
    return $Argument -in @('-h', '-Help', '--help', '/?')
}

function Test-VersionArgument([string] $Argument) {
    return $Argument -in @('--version', '-Version')
}

function Test-MinGWArgument([string] $Argument) {
    return $Argument -in @('--mingw', '-MinGW')
}

# A program on PATH, or $null.
function Find-Program([string] $Name) {
    $command = Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Path }
    return $null
}

# --- Python -----------------------------------------------------------------

# The first Python 3.11+ among the py launcher (py -3), python and python3, as
# @{ Exe = ...; Prefix = @(...) } (run it as: & $python.Exe @($python.Prefix) args),
# or $null. Windows' own python.exe stub (which only points to the Store) fails
# the version check and is passed over.
function Find-Python {
    $candidates = @(
        @{ Exe = 'py'; Prefix = @('-3') },
        @{ Exe = 'python'; Prefix = @() },
        @{ Exe = 'python3'; Prefix = @() })
    $check = "import sys; sys.exit(0 if sys.version_info[:2] >= ($($MinimumPython.Major), $($MinimumPython.Minor)) else 1)"
    foreach ($candidate in $candidates) {
        $path = Find-Program $candidate.Exe
        if (-not $path) { continue }
        $prefix = $candidate.Prefix
        & $path @prefix -c $check *> $null
        if ($LASTEXITCODE -eq 0) {
            return @{ Exe = $path; Prefix = $prefix; Name = (@($candidate.Exe) + $prefix) -join ' ' }
        }
    }
    return $null
}

# Python 3.11+ that imports matplotlib and pytest, or the script stops saying
# what to install. pip is the user's business: we only say the command.
function Get-Python {
    $python = Find-Python
    if (-not $python) {
        Stop-Script ("Python $MinimumPython or later not found (tried py -3, python, python3): install it from " +
            "python.org (tick 'Add python.exe to PATH' or keep the py launcher), then: py -3 -m pip install matplotlib pytest")
    }
    $prefix = $python.Prefix
    & $python.Exe @prefix -c 'import matplotlib, pytest' *> $null
    if ($LASTEXITCODE -ne 0) {
        Stop-Script "$($python.Name) lacks matplotlib or pytest: install them with: $($python.Name) -m pip install matplotlib pytest"
    }
    return $python
}

# Runs Python with the given arguments in the tree's root; $LASTEXITCODE tells
# how it ended. (It returns nothing: what a program prints inside a function
# would otherwise become part of the function's value.)
function Invoke-Python($Python, [object[]] $Arguments) {
    $prefix = $Python.Prefix
    $arguments = ConvertTo-ProgramArguments $Arguments
    Push-Location $Root
    try {
        & $Python.Exe @prefix @arguments | Out-Host
    } finally {
        Pop-Location
    }
}

# Arguments as a program receives them. PowerShell reads an unquoted a,b as an
# array, which it would pass to a program as two arguments: --servers iocp,select
# must stay one.
function ConvertTo-ProgramArguments([object[]] $Arguments) {
    $converted = @()
    foreach ($argument in $Arguments) {
        if ($argument -is [array]) { $converted += ($argument -join ',') } else { $converted += [string]$argument }
    }
    return ,$converted
}

# --version: the line every program of the project prints (harness/version.py says how).
function Write-ScriptVersion([string] $Script) {
    $python = Find-Python
    if (-not $python) {
        Stop-Script "--version needs Python $MinimumPython or later (py -3 or python on PATH)"
    }
    Invoke-Python $python @('-m', 'harness.version', $Script)
    exit $LASTEXITCODE
}

# --- CMake and a compiler ---------------------------------------------------

# The newest Visual Studio 2022 (or its Build Tools) with the C++ x64 tools, as
# its installation folder, or $null. vswhere comes with the Visual Studio installer.
function Find-VisualStudio {
    $vswhere = Join-Path ${env:ProgramFiles(x86)} 'Microsoft Visual Studio\Installer\vswhere.exe'
    if (-not (Test-Path $vswhere)) { return $null }
    $found = & $vswhere -latest -products * -version $VisualStudioVersions -requires $VisualStudioCppTools -property installationPath
    if ($LASTEXITCODE -ne 0 -or -not $found) { return $null }
    return @($found)[0]
}

# cmake on PATH, else the one Visual Studio installs with its C++ CMake tools.
function Find-CMake([string] $VisualStudio) {
    $cmake = Find-Program 'cmake'
    if (-not $cmake -and $VisualStudio) {
        $bundled = Join-Path $VisualStudio 'Common7\IDE\CommonExtensions\Microsoft\CMake\CMake\bin\cmake.exe'
        if (Test-Path $bundled) { $cmake = $bundled }
    }
    return $cmake
}

function Get-CMakeVersion([string] $CMake) {
    $first = & $CMake --version | Select-Object -First 1
    if ($first -match 'cmake version (\d+)\.(\d+)') {
        return [version]"$($Matches[1]).$($Matches[2])"
    }
    return [version]'0.0'
}

# What the build needs for a preset ("windows": MSVC; "windows-mingw": MinGW-w64
# gcc and mingw32-make), as @{ CMake; CTest }, or the script stops saying what
# is missing and where to get it.
function Get-BuildTools([string] $Preset) {
    $visualStudio = Find-VisualStudio
    if ($Preset -eq 'windows' -and -not $visualStudio) {
        Stop-Script ("Visual Studio 2022 (17.5 or later) with the C++ x64 tools not found (vswhere): install " +
            "'Build Tools for Visual Studio 2022' with the 'Desktop development with C++' workload, " +
            "or build with MinGW-w64 instead: --mingw")
    }
    if ($Preset -eq 'windows-mingw') {
        $gcc = Find-Program 'gcc'
        if (-not $gcc -or -not ((& $gcc -dumpmachine) -match 'mingw')) {
            Stop-Script "MinGW-w64 gcc not found on PATH (gcc -dumpmachine should name mingw32): install MinGW-w64 (e.g. MSYS2's mingw-w64-x86_64-gcc) and add its bin folder to PATH"
        }
        if (-not (Find-Program 'mingw32-make')) {
            Stop-Script "mingw32-make not found on PATH: the windows-mingw preset uses the 'MinGW Makefiles' generator (MSYS2: mingw-w64-x86_64-make)"
        }
    }
    $cmake = Find-CMake $visualStudio
    if (-not $cmake) {
        Stop-Script "CMake $MinimumCMake or later not found: install it from cmake.org (add it to PATH), or Visual Studio's 'C++ CMake tools for Windows'"
    }
    $version = Get-CMakeVersion $cmake
    if ($version -lt $MinimumCMake) {
        Stop-Script "CMake $version at $cmake is too old: $MinimumCMake or later is needed (presets)"
    }
    return @{ CMake = $cmake; CTest = (Join-Path (Split-Path -Parent $cmake) 'ctest.exe') }
}

# Configures and builds a preset; $LASTEXITCODE is 0 when both succeeded. With
# MSVC, a vcpkg that VCPKG_ROOT names lends its toolchain file, through which
# CMake finds cmocka for the unit tests (tests/unit/CMakeLists.txt says how).
function Invoke-Build($Tools, [string] $Preset) {
    # CI builds with WSB_WERROR=ON, as on Linux (scripts/build.sh): every warning is an error.
    $werror = if ($env:WSB_WERROR) { $env:WSB_WERROR } else { 'OFF' }
    $configure = @('--preset', $Preset, "-DWSB_WERROR=$werror")
    if ($Preset -eq 'windows' -and $env:VCPKG_ROOT) {
        $vcpkgToolchain = Join-Path $env:VCPKG_ROOT 'scripts\buildsystems\vcpkg.cmake'
        if (Test-Path $vcpkgToolchain) { $configure += "-DCMAKE_TOOLCHAIN_FILE=$vcpkgToolchain" }
    }
    Push-Location $Root
    try {
        Write-Step "configuring preset $Preset"
        & $Tools.CMake @configure | Out-Host
        if ($LASTEXITCODE -ne 0) { return }
        Write-Step "building preset $Preset"
        & $Tools.CMake --build --preset $Preset --parallel | Out-Host
    } finally {
        Pop-Location
    }
}

# The preset the arguments ask for: windows (MSVC), or windows-mingw with --mingw.
function Select-Preset([bool] $MinGW) {
    if ($MinGW) { return 'windows-mingw' }
    return 'windows'
}
