#!/usr/bin/python3
"""Reference for `npm run bench -- xml`: Nova's own code building the same typical guest.

Run with Debian's interpreter (/usr/bin/python3) where python3-nova is installed. For each guest
it does what vpmu does per guest: build the flavor and image objects, resolve hw:pmu/hw_pmu,
build the libvirt guest config and serialise it. Prints one JSON object with the timings.
"""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from nova import objects  # noqa: E402
from nova.virt import hardware  # noqa: E402
from nova.virt.libvirt import config as vconfig  # noqa: E402

objects.register_all()

UUID = "0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21"


def one_guest():
    flavor = objects.Flavor(
        name="vran.small", vcpus=2, memory_mb=2048, root_gb=20,
        extra_specs={"hw:pmu": "false", "hw:cpu_sockets": "1"})
    image = objects.ImageMeta.from_dict(
        {"id": "155d900f-4e14-4e4c-a73d-069cbf4541e6", "name": "cirros",
         "disk_format": "qcow2", "properties": {}})
    pmu = hardware.get_pmu_constraint(flavor, image)

    guest = vconfig.LibvirtConfigGuest()
    guest.virt_type = "kvm"
    guest.name = "instance-00000001"
    guest.uuid = UUID
    guest.memory = flavor.memory_mb * 1024
    guest.vcpus = flavor.vcpus
    guest.os_type = "hvm"
    guest.os_mach_type = "q35"
    guest.os_boot_dev = ["hd"]
    for feature in (vconfig.LibvirtConfigGuestFeatureACPI(),
                    vconfig.LibvirtConfigGuestFeatureAPIC(),
                    vconfig.LibvirtConfigGuestFeatureVMCoreInfo()):
        guest.features.append(feature)
    if pmu is not None:
        guest.features.append(vconfig.LibvirtConfigGuestFeaturePMU(pmu))

    cpu = vconfig.LibvirtConfigGuestCPU()
    cpu.mode = "host-model"
    cpu.sockets, cpu.cores, cpu.threads = 1, 2, 1
    guest.cpu = cpu

    clock = vconfig.LibvirtConfigGuestClock()
    clock.offset = "utc"
    for name, policy in (("pit", "delay"), ("rtc", "catchup")):
        timer = vconfig.LibvirtConfigGuestTimer()
        timer.name, timer.tickpolicy = name, policy
        clock.add_timer(timer)
    hpet = vconfig.LibvirtConfigGuestTimer()
    hpet.name, hpet.present = "hpet", False
    clock.add_timer(hpet)
    guest.set_clock(clock)

    disk = vconfig.LibvirtConfigGuestDisk()
    disk.source_type = "file"
    disk.source_path = "/var/lib/vpmu/instances/%s/disk" % UUID
    disk.driver_name, disk.driver_format = "qemu", "qcow2"
    disk.target_dev, disk.target_bus = "vda", "virtio"
    guest.add_device(disk)

    nic = vconfig.LibvirtConfigGuestInterface()
    nic.net_type, nic.source_dev, nic.model = "network", "default", "virtio"
    nic.mac_addr = "fa:16:3e:00:00:01"
    guest.add_device(nic)

    serial = vconfig.LibvirtConfigGuestSerial()
    serial.type = "pty"
    guest.add_device(serial)
    console = vconfig.LibvirtConfigGuestConsole()
    console.type, console.target_type = "pty", "serial"
    guest.add_device(console)

    return guest.to_xml()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    for _ in range(50):  # warm up
        one_guest()
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        one_guest()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    print(json.dumps({
        "guests": len(latencies),
        "guests_per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "xml_bytes": len(one_guest()),
    }))


if __name__ == "__main__":
    main()
