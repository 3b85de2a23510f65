package io.nemu.shim.cli.check;

import io.nemu.shim.config.HostFiles;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.QemuFeatures;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** QEMU: present, its version, the machine types of both profiles, and its seccomp filter for {@code -sandbox}. */
final class QemuCheck {
    private static final Pattern VERSION = Pattern.compile("version (\\d+)\\.(\\d+)(\\.\\d+)?");
    /** The QEMU machine of each profile: virt is microvm, virt-hotplug is q35. */
    private static final List<String> MACHINES = List.of("microvm", "q35");

    private QemuCheck() {
    }

    /** "major.minor[.patch]" from {@code --version} output, if there is one. */
    static Optional<String> version(String output) {
        Matcher m = VERSION.matcher(output);
        return m.find() ? Optional.of(m.group(1) + "." + m.group(2) + (m.group(3) == null ? "" : m.group(3)))
                : Optional.empty();
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.config() == null) {
            return List.of();
        }
        RuntimeConfig.Hypervisor h = c.config().hypervisor();
        Optional<HostFiles.Problem> missing = c.fileProblem("hypervisor.qemu.path");
        if (missing.isPresent()) {
            return List.of(CheckResult.fail("qemu", missing.get().message(),
                    "apt-get install qemu-system-x86, or set [hypervisor.qemu] path"));
        }
        List<CheckResult> out = new ArrayList<>();
        String qemu = h.path().toString();
        Optional<String> version = HostRoot.output(List.of(qemu, "--version")).flatMap(QemuCheck::version);
        String machines = HostRoot.output(List.of(qemu, "-machine", "help")).orElse("");
        List<String> present = MACHINES.stream()
                .filter(m -> Pattern.compile("(?m)^" + m + "\\s").matcher(machines).find()).toList();
        String profileMachine = h.machineType().hotplug() ? "q35" : "microvm";
        String found = qemu + " " + version.orElse("(version unknown)") + ", machines "
                + (present.isEmpty() ? "none of microvm, q35" : String.join(", ", present));
        if (version.isEmpty()) {
            out.add(CheckResult.fail("qemu", qemu + " does not answer --version like QEMU",
                    "point [hypervisor.qemu] path at qemu-system-x86_64"));
        } else if (!present.contains(profileMachine)) {
            out.add(CheckResult.fail("qemu", found + ": machine_type " + h.machineType().name() + " needs "
                    + profileMachine, "install a QEMU with " + profileMachine + " (Debian's qemu-system-x86 has both)"));
        } else if (olderThan(version.get(), 7, 2)) {
            out.add(CheckResult.warn("qemu", found, "the project is tested with QEMU 7.2 (Debian 12); upgrade"));
        } else if (present.size() < MACHINES.size()) {
            out.add(CheckResult.warn("qemu", found, "the other profile will not start on this QEMU"));
        } else {
            out.add(CheckResult.pass("qemu", found));
        }
        String options = h.seccompSandbox();
        if (options == null) {
            out.add(CheckResult.warn("seccomp", "QEMU runs without its seccomp filter: seccompsandbox = \"\"",
                    "set seccompsandbox = \"" + QemuFeatures.SANDBOX + "\""));
        } else {
            QemuFeatures.SandboxProbe probe = QemuFeatures.sandbox(h.path(), options);
            out.add(probe.supported() ? CheckResult.pass("seccomp", "QEMU applies -sandbox " + options)
                    : CheckResult.fail("seccomp", qemu + " cannot apply -sandbox " + options + " (" + probe.detail()
                    + "): sandboxes will not start", "use a QEMU built with seccomp, or set seccompsandbox = \"\""
                    + " to run it unfiltered on purpose"));
        }
        return out;
    }

    static boolean olderThan(String version, int major, int minor) {
        String[] p = version.split("\\.");
        int ma = Integer.parseInt(p[0]);
        int mi = Integer.parseInt(p[1]);
        return ma < major || (ma == major && mi < minor);
    }
}
