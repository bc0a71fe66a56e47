"""`openstack server vpmu show SERVER`: the guest's effective vPMU and why.

Reads vpmu's sub-resource GET /servers/{id}/os-vpmu (docs/api.md in the vpmu repository).
"""
from osc_lib import exceptions
from osc_lib.command import command

COLUMNS = (
    "server",
    "effective",
    "reason",
    "resolved",
    "source",
    "requested_flavor",
    "requested_image",
)


class ShowServerVpmu(command.ShowOne):
    """Show whether a server's guest has a virtual PMU, and why."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="<server>", help="Server (name or ID)")
        parser.add_argument(
            "--domain-xml",
            action="store_true",
            help="Also show the libvirt domain XML (admins only)",
        )
        return parser

    def take_action(self, parsed_args):
        compute = self.app.client_manager.vpmu.compute
        server = compute.find_server(parsed_args.server, ignore_missing=False)
        response = compute.get(f"/servers/{server.id}/os-vpmu")
        if response.status_code != 200:
            raise exceptions.CommandError(_fault_message(response))
        vpmu = response.json()["vpmu"]
        requested = vpmu.get("requested") or {}
        row = {
            "server": server.id,
            "effective": vpmu.get("effective"),
            "reason": vpmu.get("reason"),
            "resolved": vpmu.get("resolved"),
            "source": vpmu.get("source"),
            "requested_flavor": requested.get("flavor"),
            "requested_image": requested.get("image"),
        }
        columns = COLUMNS
        if parsed_args.domain_xml:
            if "domain_xml" not in vpmu:
                raise exceptions.CommandError(
                    "Only an admin may see the domain XML of server %s" % server.id
                )
            row["domain_xml"] = vpmu["domain_xml"]
            columns = COLUMNS + ("domain_xml",)
        return columns, tuple(row[c] for c in columns)


def _fault_message(response):
    """Nova's fault body names the problem: {"itemNotFound": {"message": ...}}."""
    try:
        (fault,) = response.json().values()
        return "%s (HTTP %s)" % (fault["message"], response.status_code)
    except (ValueError, TypeError, KeyError, AttributeError):
        return "HTTP %s: %s" % (response.status_code, response.text[:200])
