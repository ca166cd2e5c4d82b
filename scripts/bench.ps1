<#
.SYNOPSIS
Runs winsock-bench's default benchmark suite on Windows and writes its report.
scripts/bench.sh is its Linux counterpart.
.DESCRIPTION
usage: scripts/bench.ps1 [--suite NAME] [--servers A,B] [--reps N] [--seed S] [--placement MODE] [--out DIR] [--mingw]
Every option but --mingw goes to `python -m harness run --suite default` (a later
--suite replaces default); the run folder is results\runs\<time>-<suite>\ unless
--out says otherwise. The harness finds the build by itself (build\windows, then
build\windows-mingw).
#>
# The script's own arguments, taken before common.ps1 is dot-sourced into this scope.
$scriptArguments = @($args)
. (Join-Path $PSScriptRoot 'common.ps1')

function Show-Usage {
    Write-Output 'usage: scripts/bench.ps1 [--suite NAME] [--servers A,B] [--reps N] [--seed S] [--placement MODE] [--out DIR] [--mingw]'
    Write-Output 'Checks for what is missing, builds (--mingw: with MinGW-w64), runs the suite (default: default), writes'
    Write-Output 'report.html and report.md. The other options are those of ''python -m harness run'':'
    Write-Output ''
}

# bench.ps1's own options first; every other argument is the harness's.
$mingw = $false
$dryRun = $false
$suite = 'default'
$out = ''
$harnessArguments = @()
$arguments = ConvertTo-ProgramArguments $scriptArguments
for ($i = 0; $i -lt $arguments.Count; $i++) {
    $argument = $arguments[$i]
    $next = if ($i + 1 -lt $arguments.Count) { $arguments[$i + 1] } else { '' }
    if (Test-HelpArgument $argument) {
        Show-Usage
        $python = Find-Python
        if ($python) { Invoke-Python $python @('-m', 'harness', 'run', '--help') }
        exit 0
    }
    if (Test-VersionArgument $argument) { Write-ScriptVersion 'bench.ps1' }
    if (Test-MinGWArgument $argument) { $mingw = $true; continue }
    if ($argument -like '--resume*') {
        Stop-Script 'bench.ps1 starts a new run; finish an old one with: python -m harness run --resume DIR' 2
    }
    if ($argument -eq '--suite') { $suite = $next }
    if ($argument -like '--suite=*') { $suite = $argument.Substring('--suite='.Length) }
    if ($argument -eq '--out') { $out = $next }
    if ($argument -like '--out=*') { $out = $argument.Substring('--out='.Length) }
    if ($argument -eq '--dry-run') { $dryRun = $true }
    $harnessArguments += $argument
}

$python = Get-Python
$run = @('-m', 'harness', 'run', '--suite', 'default') + $harnessArguments
if ($dryRun) {  # the plan and its estimate only: nothing to build or report
    Invoke-Python $python $run
    exit $LASTEXITCODE
}
# Bad options are refused now, not after minutes of building: the harness
# checks them (and the suite) in a dry run, which needs no build. Its reason is
# the last line it writes on stderr.
Push-Location $Root
try {
    $prefix = $python.Prefix
    $dryRunArguments = $run + '--dry-run'
    $check = & $python.Exe @prefix @dryRunArguments 2>&1
    $checkFailed = $LASTEXITCODE -ne 0
} finally {
    Pop-Location
}
if ($checkFailed) {
    $reasons = @($check | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { "$_" } |
        Where-Object { $_.Trim() })
    $reason = if ($reasons.Count -gt 0) { $reasons[-1] } else { 'the harness refused these options' }
    [Console]::Error.WriteLine("bench.ps1: $reason")
    exit 2
}
if (-not $out) {
    $name = [System.IO.Path]::GetFileNameWithoutExtension($suite)
    $out = Join-Path $Root "results\runs\$(Get-Date -Format 'yyyyMMdd-HHmmss')-$name"
    $run += @('--out', $out)
}

$preset = Select-Preset $mingw
$tools = Get-BuildTools $preset
Invoke-Build $tools $preset
if ($LASTEXITCODE -ne 0) { Stop-Script "building preset $preset failed (see above)" }
if ($mingw -and (Test-Path (Join-Path $Root 'build\windows'))) {
    Write-Step 'note: the harness takes build\windows (MSVC) before build\windows-mingw when both exist'
}

Invoke-Python $python $run
$status = $LASTEXITCODE
# 1: some runs failed, the others are recorded and worth a report.
if ($status -ne 0 -and $status -ne 1) { exit $status }
Write-Step 'writing the report'
Invoke-Python $python @('-m', 'harness', 'report', $out)
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
[Console]::Error.WriteLine("report: $(Join-Path $out 'report.html') (and report.md)")
exit $status
