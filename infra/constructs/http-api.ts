import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Construct } from 'constructs';
import type { FunctionName, RouteDefinition } from '../definitions.ts';
import type { AppFunction } from './app-function.ts';

export interface NotificationsHttpApiProps {
  /** Every route of the product (infra/definitions.ts ROUTES); nothing else is exposed. */
  readonly routes: readonly RouteDefinition[];
  /** The function behind each route's `function` name. */
  readonly functions: Readonly<Record<FunctionName, AppFunction>>;
}

/**
 * The HTTP API (API Gateway v2, payload format 2.0): one route per entry of ROUTES, each wired to its
 * function, with SigV4 (IAM) authorization where the route says `iam`. There is no catch-all route, so any
 * other path gets API Gateway's own 404 without invoking a function.
 */
export class NotificationsHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: NotificationsHttpApiProps) {
    super(scope, id);

    // The $default stage is declared explicitly (not with createDefaultStage) so that its settings can be
    // set in one place.
    this.api = new HttpApi(this, 'Api', { createDefaultStage: false });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
    });

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const integrationFor = (name: FunctionName) => {
      let integration = integrations.get(name);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${name}-integration`, props.functions[name].function);
        integrations.set(name, integration);
      }
      return integration;
    };
    const authorizers: Record<RouteDefinition['auth'], IHttpRouteAuthorizer> = {
      iam: new HttpIamAuthorizer(),
      // Public on purpose: Cronofy authenticates with an HMAC signature the function checks, and recipients'
      // browsers follow redirect links without credentials.
      none: new HttpNoneAuthorizer(),
    };

    for (const route of props.routes) {
      this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrationFor(route.function),
        authorizer: authorizers[route.auth],
      });
    }
  }

  /** The base URL of the API (`https://{id}.execute-api.{region}.amazonaws.com/`). */
  get url(): string {
    return this.stage.url;
  }
}
