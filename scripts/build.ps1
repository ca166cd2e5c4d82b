<#
.SYNOPSIS
Builds winsock-bench on Windows: every Winsock server, loadgen and (where
cmocka is found) the unit tests. scripts/build.sh is its Linux counterpart.
.DESCRIPTION
usage: scripts/build.ps1 [--help] [--version] [--mingw]
Checks for CMake 3.21+ and a compiler, then configures and builds the windows
preset (MSVC, build\windows) or, with --mingw, the windows-mingw preset
(MinGW-w64 gcc, build\windows-mingw).
#>
# The script's own arguments, taken before common.ps1 is dot-sourced into this scope.
$scriptArguments = @($args)
. (Join-Path $PSScriptRoot 'common.ps1')

function Show-Usage {
    Write-Output 'usage: scripts/build.ps1 [--help] [--version] [--mingw]'
    Write-Output 'Checks for CMake 3.21+ and Visual Studio 2022 Build Tools (or, with --mingw, MinGW-w64 gcc), then'
    Write-Output 'configures and builds the windows preset (build\windows: the Winsock servers, loadgen.exe and,'
    Write-Output 'where CMake finds cmocka, the unit tests), or the windows-mingw preset (build\windows-mingw).'
}

$mingw = $false
foreach ($argument in $scriptArguments) {
    if (Test-HelpArgument $argument) { Show-Usage; exit 0 }
    if (Test-VersionArgument $argument) { Write-ScriptVersion 'build.ps1' }
}
foreach ($argument in $scriptArguments) {
    if (Test-MinGWArgument $argument) { $mingw = $true } else { Stop-BadUsage 'build.ps1' $argument }
}

$preset = Select-Preset $mingw
$tools = Get-BuildTools $preset
Invoke-Build $tools $preset
if ($LASTEXITCODE -ne 0) { Stop-Script "building preset $preset failed (see above)" }
