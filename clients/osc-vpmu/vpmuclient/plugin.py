"""Registers vpmu's commands with the openstack client (the `openstack.cli.extension` hook).

The commands talk to vpmu's compute endpoint through the client's own authenticated session, so
they need no client object of their own: make_client hands back the session-bound connection.
"""

API_NAME = "vpmu"
API_VERSION_OPTION = "os_vpmu_api_version"
API_VERSIONS = {"1": "vpmuclient.v1"}
DEFAULT_API_VERSION = "1"


def make_client(instance):
    """The openstacksdk connection the openstack client already authenticated."""
    return instance.sdk_connection


def build_option_parser(parser):
    parser.add_argument(
        "--os-vpmu-api-version",
        metavar="<vpmu-api-version>",
        default=DEFAULT_API_VERSION,
        help="vpmu command set version (default: 1)",
    )
    return parser
