<#
.SYNOPSIS
Runs winsock-bench's tests on Windows. scripts/test.sh is its Linux counterpart.
.DESCRIPTION
usage: scripts/test.ps1 [--help] [--version] [--mingw]
Builds (scripts/build.ps1), then runs ctest on the build (the unit tests where
cmocka was found, the servers' and loadgen's own checks) and pytest on what runs
on Windows: the harness's tests and the conformance suite against the Winsock
servers, started directly. Every step runs even when an earlier one failed; the
exit code says whether any did.
#>
# The script's own arguments, taken before common.ps1 is dot-sourced into this scope.
$scriptArguments = @($args)
. (Join-Path $PSScriptRoot 'common.ps1')

function Show-Usage {
    Write-Output 'usage: scripts/test.ps1 [--help] [--version] [--mingw]'
    Write-Output 'Checks for what is missing, builds the windows preset (MSVC; --mingw: windows-mingw), then runs'
    Write-Output 'ctest on it (unit tests where cmocka is found, the servers'' and loadgen''s checks) and pytest on'
    Write-Output 'tests\harness and tests\conformance. Fewer tests: py -3 -m pytest tests\conformance -k iocp'
}

$mingw = $false
foreach ($argument in $scriptArguments) {
    if (Test-HelpArgument $argument) { Show-Usage; exit 0 }
    if (Test-VersionArgument $argument) { Write-ScriptVersion 'test.ps1' }
}
foreach ($argument in $scriptArguments) {
    if (Test-MinGWArgument $argument) { $mingw = $true } else { Stop-BadUsage 'test.ps1' $argument }
}

$preset = Select-Preset $mingw
# Everything is checked before the first step: a missing Python is said now,
# not after the build.
$tools = Get-BuildTools $preset
$python = Get-Python
$started = Get-Date

Invoke-Build $tools $preset
if ($LASTEXITCODE -ne 0) { Stop-Script "building preset $preset failed (see above)" }

$failed = @()
Write-Step "ctest --preset $preset"
Push-Location $Root
try {
    & $tools.CTest --preset $preset | Out-Host
    if ($LASTEXITCODE -ne 0) { $failed += 'ctest' }
} finally {
    Pop-Location
}
Write-Step 'pytest: harness, conformance'
Invoke-Python $python @('-m', 'pytest', 'tests/harness', 'tests/conformance')
if ($LASTEXITCODE -ne 0) { $failed += 'pytest' }

$minutes = [math]::Round(((Get-Date) - $started).TotalMinutes, 1)
if ($failed.Count -gt 0) {
    Stop-Script "FAILED: $($failed -join ', ') ($minutes min)"
}
[Console]::Error.WriteLine("all tests passed ($minutes min)")
